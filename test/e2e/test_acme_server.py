"""certfleet's ACME server (issue #16) with real ACME clients from Debian: certbot (http-01 with
its standalone server) and lego (dns-01 through a real BIND9 over RFC 2136), each registering with
an external account binding key from `certfleet acme eab create`, obtaining a certificate,
renewing it and revoking it. The certificates verify against certfleet's CA and appear in
`certfleet cert list` as acme-server certificates that are neither exportable nor deployable.
Refusals: no EAB, a used EAB key, an unclaimed name, a private address the server may not reach.
"""

import json
import os
import sqlite3
import subprocess

import pytest

import acme_servers
from conftest import (DEFAULT_SERVER_CONFIG, Cli, Server, Workspace, _clean_env, _free_port,
                      create_account, create_principal, run_tool, unique_name)

CLIENT_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def bind9():
    yield from acme_servers.running_bind9("certfleet-e2e-acmesrv-bind-")


class AcmeServerEnv:
    """A certfleetd whose ACME validator resolves names through the test BIND9 (every name under
    example.test is 127.0.0.1), may reach loopback ([network] allow_private), and connects to
    http-01 on a free port where the clients' standalone servers listen; a tenant account that
    claims example.test, with an operator the EAB keys act as."""

    def __init__(self, certfleetd_bin, certfleet_bin, bind9, allow_loopback=True):
        self.ws = Workspace("certfleet-e2e-acmesrv-")
        self.bind9 = bind9
        self.http01_port = _free_port()
        self.server = Server(certfleetd_bin, self.ws.sub("data"))
        os.mkdir(self.server.data_dir, 0o700)
        config = DEFAULT_SERVER_CONFIG
        if allow_loopback:
            config += '\n[network]\nallow_private = ["127.0.0.0/8"]\n'
        self.server.config = config
        self.server.extra_args = ["--acme-http01-port", str(self.http01_port),
                                  "--acme-resolver", f"127.0.0.1:{bind9.port}"]
        self.server.start()
        self.admin = Cli(certfleet_bin, self.server)
        self.account = create_account(self.admin, unique_name("acmesrv"))
        self.operator = create_principal(self.admin, self.ws, self.account["id"], "operator")
        self.directory = f"{self.server.url}/acme/directory"

    def eab(self, *extra):
        return self.admin.json("acme", "eab", "create", "--account", self.account["id"],
                               "--principal", self.operator.record["id"], *extra)

    def db(self):
        return sqlite3.connect(f"file:{self.server.db_path}?mode=ro", uri=True)

    def count(self, sql, *args):
        with self.db() as conn:
            return conn.execute(sql, args).fetchone()[0]

    def close(self):
        try:
            self.server.stop()
        finally:
            self.ws.cleanup()


@pytest.fixture(scope="module")
def env(certfleetd_bin, certfleet_bin, bind9):
    e = AcmeServerEnv(certfleetd_bin, certfleet_bin, bind9)
    yield e
    e.close()


def _client_env(server):
    env = _clean_env()
    env["REQUESTS_CA_BUNDLE"] = server.ca_path  # certbot
    env["LEGO_CA_CERTIFICATES"] = server.ca_path  # lego
    return env


def shown(args):
    """The arguments for a failure message, with EAB HMAC keys replaced: they are secrets."""
    # Passed as --eab-hmac-key=KEY / --hmac=KEY: a base64url key may start with "-", which
    # argument parsers take for an option.
    out = []
    for a in args:
        for flag in ("--eab-hmac-key=", "--hmac="):
            if a.startswith(flag):
                a = flag + "<hmac key>"
        out.append(a)
    return " ".join(out)


def run_client(name, argv, args, client_env, env):
    """Runs an ACME client; a timeout fails the test without the exception, whose text would
    show argv (and the HMAC key in it)."""
    timed_out = None
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S,
                              env=client_env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as t:
        timed_out = t
    pytest.fail(f"{name} {shown(args)} did not finish in {CLIENT_TIMEOUT_S} s\n"
                f"{timed_out.stdout}\n{timed_out.stderr}\nserver log:\n"
                f"{env.server.log_tail(30)}", pytrace=False)


def certbot(env, workdir, *args, check=True):
    argv = ["certbot", *args, "-n", "--server", env.directory,
            "--config-dir", os.path.join(workdir, "config"),
            "--work-dir", os.path.join(workdir, "work"),
            "--logs-dir", os.path.join(workdir, "logs")]
    proc = run_client("certbot", argv, args, _client_env(env.server), env)
    proc.log_tail = _tail(os.path.join(workdir, "logs", "letsencrypt.log"), 40)
    proc.log = _tail(os.path.join(workdir, "logs", "letsencrypt.log"), 100000)
    if check and proc.returncode != 0:
        pytest.fail(f"certbot {shown(args)} exited {proc.returncode}\n{proc.stdout}\n"
                    f"{proc.stderr}\ncertbot log:\n{proc.log_tail}\n"
                    f"server log:\n{env.server.log_tail(30)}", pytrace=False)
    return proc


def _tail(path, n):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def lego(env, workdir, *args, extra_env=None, check=True):
    argv = ["lego", "--server", env.directory, "--accept-tos", "--email", "ops@example.test",
            "--path", workdir, *args]
    e = _client_env(env.server)
    e.update(extra_env or {})
    proc = run_client("lego", argv, args, e, env)
    if check and proc.returncode != 0:
        pytest.fail(f"lego {shown(args)} exited {proc.returncode}\n{proc.stdout}\n"
                    f"{proc.stderr}\nserver log:\n{env.server.log_tail(30)}", pytrace=False)
    return proc


def verify_against_ca(env, fullchain_path):
    """`openssl verify` of the leaf with certfleet's root as the only trust anchor and the
    intermediate(s) from the served chain."""
    with open(fullchain_path) as f:
        pems = f.read().split("-----END CERTIFICATE-----")
    pems = [p.strip() + "\n-----END CERTIFICATE-----\n" for p in pems if p.strip()]
    assert len(pems) >= 2, f"the chain holds {len(pems)} certificate(s)"
    leaf = fullchain_path + ".leaf.pem"
    chain = fullchain_path + ".chain.pem"
    with open(leaf, "w") as f:
        f.write(pems[0])
    with open(chain, "w") as f:
        f.write("".join(pems[1:]))
    proc = run_tool("openssl", "verify", "-CAfile", env.server.ca_path, "-untrusted", chain, leaf,
                    check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    serial = run_tool("openssl", "x509", "-in", leaf, "-noout", "-serial").stdout.decode()
    return serial.strip().split("=", 1)[1].lower().lstrip("0")


def acme_certificates(env):
    listed = env.operator.cli.json("cert", "list")
    items = listed["items"] if isinstance(listed, dict) else listed
    return [c for c in items if c["issuer"] == "acme-server"]


def test_directory_is_on_the_main_listener(env):
    r = env.server.request("GET", "/acme/directory", token=None)
    assert r.status == 200, r
    d = r.json()
    for key in ("newNonce", "newAccount", "newOrder", "revokeCert", "keyChange", "renewalInfo"):
        assert d[key].startswith(env.server.url + "/acme/"), d
    assert d["meta"]["externalAccountRequired"] is True
    assert set(d["meta"]["profiles"]) == {"tls-server", "tls-client", "short-lived"}
    nonce = env.server.request("HEAD", "/acme/new-nonce", token=None)
    assert nonce.status == 200 and nonce.headers.get("replay-nonce"), nonce


def test_eab_create_prints_a_kid_and_an_hmac_key_once(env):
    key = env.eab("--expires", "1h")
    assert key["kid"].startswith("eab_"), key
    assert len(key["hmac_key"]) >= 43 and "=" not in key["hmac_key"], key
    # The HMAC key is sealed: not in the store as text.
    with open(env.server.db_path, "rb") as f:
        assert key["hmac_key"].encode() not in f.read()


def test_certbot_http01_issue_renew_revoke(env, workdir):
    key = env.eab()
    domain = f"{unique_name('cb')}.example.test"
    d = workdir.sub("certbot")
    common = ["--standalone", "--http-01-address", "127.0.0.1",
              "--http-01-port", str(env.http01_port), "-d", domain]
    certbot(env, d, "certonly", "--agree-tos", "--register-unsafely-without-email",
            "--eab-kid", key["kid"], f"--eab-hmac-key={key['hmac_key']}", *common)
    live = os.path.join(d, "config", "live", domain)
    serial1 = verify_against_ca(env, os.path.join(live, "fullchain.pem"))

    certs = [c for c in acme_certificates(env) if c["domains"] == [domain]]
    assert len(certs) == 1, acme_certificates(env)
    cert = certs[0]
    assert cert["exportable"] is False and cert["status"] == "issued", cert
    assert cert["key_type"] in ("rsa2048", "p256"), cert

    # The same client renews: a new version of the same certfleet certificate.
    certbot(env, d, "certonly", "--force-renewal", *common)
    serial2 = verify_against_ca(env, os.path.join(live, "fullchain.pem"))
    assert serial2 != serial1
    again = [c for c in acme_certificates(env) if c["domains"] == [domain]]
    assert [c["id"] for c in again] == [cert["id"]], again
    shown = env.operator.cli.json("cert", "show", cert["id"])
    assert shown["serial"].lstrip("0") == serial2 and shown["version"] == 2, shown

    # Its key is the client's: certfleet can neither export nor deploy it.
    passfile = workdir.sub("pass")
    with open(passfile, "w") as f:
        f.write("a passphrase of some length\n")
    denied = env.operator.cli("cert", "export", cert["id"], "--out", workdir.sub("x"),
                              "--passphrase-file", passfile, check=False)
    assert denied.returncode != 0 and "ACME" in denied.stderr, denied.stderr

    # Revoked by the client, with the account key.
    certbot(env, d, "revoke", "--cert-path", os.path.join(live, "cert.pem"),
            "--reason", "superseded", "--no-delete-after-revoke")
    shown = env.operator.cli.json("cert", "show", cert["id"])
    assert shown["status"] == "revoked", shown


def test_lego_dns01_through_bind9(env, workdir):
    key = env.eab()
    domain = f"{unique_name('lg')}.example.test"
    d = workdir.sub("lego")
    dns_env = {"RFC2136_NAMESERVER": f"127.0.0.1:{env.bind9.port}",
               "RFC2136_TSIG_KEY": env.bind9.tsig_name,
               "RFC2136_TSIG_SECRET": env.bind9.tsig_secret,
               "RFC2136_TSIG_ALGORITHM": env.bind9.tsig_algorithm + ".",
               "RFC2136_SEQUENCE_INTERVAL": "1",
               "RFC2136_PROPAGATION_TIMEOUT": "60"}
    args = ["--eab", "--kid", key["kid"], f"--hmac={key['hmac_key']}", "--domains", domain,
            "--dns", "rfc2136", "--dns.resolvers", f"127.0.0.1:{env.bind9.port}",
            "--dns.disable-cp"]
    lego(env, d, *args, "run", extra_env=dns_env)
    crt = os.path.join(d, "certificates", f"{domain}.crt")
    verify_against_ca(env, crt)
    certs = [c for c in acme_certificates(env) if c["domains"] == [domain]]
    assert len(certs) == 1
    # lego renews (a new version of the same record), then revokes.
    lego(env, d, *args, "renew", "--days", "3650", "--no-random-sleep", extra_env=dns_env)
    renewed = [c for c in acme_certificates(env) if c["domains"] == [domain]]
    assert [c["id"] for c in renewed] == [certs[0]["id"]]
    shown = env.operator.cli.json("cert", "show", certs[0]["id"])
    assert shown["version"] == 2, shown
    lego(env, d, *args, "revoke", extra_env=dns_env)
    assert env.operator.cli.json("cert", "show", certs[0]["id"])["status"] == "revoked"


def test_registration_without_eab_is_refused(env, workdir):
    d = workdir.sub("noeab")
    proc = certbot(env, d, "register", "--agree-tos", "--register-unsafely-without-email",
                   check=False)
    assert proc.returncode != 0
    assert "externalAccountRequired" in proc.stdout + proc.stderr or \
        "external account" in (proc.stdout + proc.stderr).lower(), proc.stderr
    assert env.count("SELECT count(*) FROM acme_srv_accounts WHERE eab_kid = ''") == 0


def test_an_eab_key_binds_one_account_only(env, workdir):
    key = env.eab()
    first = certbot(env, workdir.sub("one"), "register", "--agree-tos",
                    "--register-unsafely-without-email", "--eab-kid", key["kid"],
                    f"--eab-hmac-key={key['hmac_key']}")
    assert first.returncode == 0
    second = certbot(env, workdir.sub("two"), "register", "--agree-tos",
                     "--register-unsafely-without-email", "--eab-kid", key["kid"],
                     f"--eab-hmac-key={key['hmac_key']}", check=False)
    assert second.returncode != 0
    assert "used already" in second.stdout + second.stderr, second.stderr
    assert env.count("SELECT count(*) FROM acme_srv_accounts WHERE eab_kid = ?", key["kid"]) == 1


def test_an_unclaimed_name_is_rejected_and_nothing_is_stored(env, workdir):
    key = env.eab()
    before = env.count("SELECT count(*) FROM acme_srv_orders")
    proc = certbot(env, workdir.sub("unclaimed"), "certonly", "--agree-tos",
                   "--register-unsafely-without-email", "--eab-kid", key["kid"],
                   f"--eab-hmac-key={key['hmac_key']}", "--standalone",
                   "--http-01-address", "127.0.0.1", "--http-01-port", str(env.http01_port),
                   "-d", "www.other.test", check=False)
    assert proc.returncode != 0
    # certbot 2.1 on Python 3.11 hides the server's problem behind "AttributeError: can't set
    # attribute" (josepy's immutable Error meets contextlib); its log has the problem.
    assert "rejectedIdentifier" in proc.stdout + proc.stderr + proc.log, proc.log_tail
    assert env.count("SELECT count(*) FROM acme_srv_orders") == before


def test_validation_never_reaches_an_address_the_server_does_not_allow(certfleetd_bin,
                                                                       certfleet_bin, bind9,
                                                                       workdir):
    """Without [network] allow_private, names resolving to 127.0.0.1 fail validation with a
    connection problem that does not name the address."""
    closed = AcmeServerEnv(certfleetd_bin, certfleet_bin, bind9, allow_loopback=False)
    try:
        key = closed.eab()
        domain = f"{unique_name('lo')}.example.test"
        proc = certbot(closed, workdir.sub("closed"), "certonly", "--agree-tos",
                       "--register-unsafely-without-email", "--eab-kid", key["kid"],
                       f"--eab-hmac-key={key['hmac_key']}", "--standalone",
                       "--http-01-address", "127.0.0.1",
                       "--http-01-port", str(closed.http01_port), "-d", domain, check=False)
        assert proc.returncode != 0
        out = proc.stdout + proc.stderr
        assert "connection" in out, out
        details = [line for line in out.splitlines() if line.strip().startswith("Detail:")]
        assert details, out
        assert all("127.0.0.1" not in line for line in details), details
        assert closed.count("SELECT count(*) FROM acme_srv_challenges WHERE status = 'invalid'"
                            ) == 1
        assert closed.count("SELECT count(*) FROM certificates") == 0
    finally:
        closed.close()
