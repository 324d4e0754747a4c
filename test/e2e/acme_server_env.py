"""What the e2e tests of certfleet's ACME server (issue #16) share: test_acme_server.py (certbot,
lego, refusals) and test_acme_server_clients.py (certbot, lego, Caddy, dehydrated, uacme).

  AcmeServerEnv      a certfleetd whose validator resolves names through the test BIND9 and may
                     reach loopback, with http-01 and tls-alpn-01 on free ports where the clients
                     listen; an account claiming example.test and an operator the EAB keys act as.
  run_client(...)    runs an ACME client; failure messages never show an EAB HMAC key.
  certbot(...), lego(...)
                     the two clients test_acme_server.py started with, with their CA trust.
  verify_against_ca(...), acme_certificates(...)
                     what every test checks: `openssl verify` against certfleet's root, and the
                     certificate's record in `certfleet cert list`.

EAB HMAC keys are secrets. Every key AcmeServerEnv.eab() hands out is replaced by "<hmac key>" in
the failure messages made here (client argv, output and logs); tests that fail on their own
never put a client's argv or a key into an assertion.
"""

import os
import sqlite3
import subprocess

import pytest

from conftest import (DEFAULT_SERVER_CONFIG, Cli, Server, Workspace, _clean_env, _free_port,
                      create_account, create_principal, run_tool, unique_name)

# A client run: registration, one order, its challenges and polling. Generous for the ASan build.
CLIENT_TIMEOUT_S = 120

REDACTED = "<hmac key>"
# Flags that carry an EAB HMAC key in the same argument (a base64url key may start with "-",
# which argument parsers take for an option, so it is never passed as the next argument).
_SECRET_FLAGS = ("--eab-hmac-key=", "--hmac=", "--eab=")


class AcmeServerEnv:
    """A certfleetd whose ACME validator resolves names through the test BIND9 (every name under
    example.test is 127.0.0.1), may reach loopback ([network] allow_private), and connects to
    http-01 and tls-alpn-01 on free loopback ports where the clients' own servers listen; a
    tenant account that claims example.test, with an operator the EAB keys act as."""

    def __init__(self, certfleetd_bin, certfleet_bin, bind9, allow_loopback=True,
                 prefix="certfleet-e2e-acmesrv-", extra_config=""):
        self.ws = Workspace(prefix)
        self.bind9 = bind9
        self.http01_port = _free_port()
        self.tls_alpn01_port = _free_port()
        self.secrets = []  # the HMAC keys eab() handed out
        self.server = Server(certfleetd_bin, self.ws.sub("data"))
        os.mkdir(self.server.data_dir, 0o700)
        config = DEFAULT_SERVER_CONFIG
        if allow_loopback:
            config += '\n[network]\nallow_private = ["127.0.0.0/8"]\n'
        config += extra_config
        self.server.config = config
        self.server.extra_args = ["--acme-http01-port", str(self.http01_port),
                                  "--acme-tls-alpn01-port", str(self.tls_alpn01_port),
                                  "--acme-resolver", f"127.0.0.1:{bind9.port}"]
        self.server.start()
        self.admin = Cli(certfleet_bin, self.server)
        self.account = create_account(self.admin, unique_name("acmesrv"))
        self.operator = create_principal(self.admin, self.ws, self.account["id"], "operator")
        self.directory = f"{self.server.url}/acme/directory"

    def eab(self, *extra):
        """A fresh EAB key ({"kid", "hmac_key", ...}) for the operator; its HMAC key is redacted
        from every failure message made through this environment."""
        key = self.admin.json("acme", "eab", "create", "--account", self.account["id"],
                              "--principal", self.operator.record["id"], *extra)
        self.secrets.append(key["hmac_key"])
        return key

    def redact(self, text):
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def fail(self, message, server_lines=30):
        """Fails the test with `message` and the server's log tail, HMAC keys redacted."""
        pytest.fail(self.redact(f"{message}\nserver log:\n{self.server.log_tail(server_lines)}"),
                    pytrace=False)

    def db(self):
        return sqlite3.connect(f"file:{self.server.db_path}?mode=ro", uri=True)

    def count(self, sql, *args):
        with self.db() as conn:
            return conn.execute(sql, args).fetchone()[0]

    def validated_challenges(self, domain):
        """The types of the challenges certfleet validated for `domain`, oldest first: which
        challenge a client actually answered (a reused authorization adds none)."""
        with self.db() as conn:
            rows = conn.execute(
                "SELECT c.type FROM acme_srv_challenges c "
                "JOIN acme_srv_authzs a ON a.id = c.authz_id "
                "WHERE a.identifier_value = ? AND c.status = 'valid' "
                "ORDER BY c.validated_at, c.id", (domain,)).fetchall()
        return [r[0] for r in rows]

    def close(self):
        try:
            self.server.stop()
        finally:
            self.ws.cleanup()


def client_env(server, extra=None):
    """The environment for a client: the caller's (without CERTFLEET_*), with certfleet's CA
    trusted by certbot (requests) and lego."""
    env = _clean_env()
    env["REQUESTS_CA_BUNDLE"] = server.ca_path  # certbot
    env["LEGO_CA_CERTIFICATES"] = server.ca_path  # lego
    env.update(extra or {})
    return env


def shown(args):
    """The arguments for a failure message, with EAB HMAC keys replaced: they are secrets."""
    out = []
    for a in args:
        for flag in _SECRET_FLAGS:
            if a.startswith(flag):
                a = flag + REDACTED
        out.append(a)
    return " ".join(out)


def tail(path, n):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


class ClientRun:
    """What a client run left: exit status and output. Unlike a CompletedProcess it does not hold
    argv, so an assertion on it cannot print an HMAC key."""

    def __init__(self, returncode, stdout, stderr):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.log = ""  # the client's own log file, when it has one
        self.log_tail = ""  # its last lines

    @property
    def output(self):
        return self.stdout + self.stderr

    def __repr__(self):
        return f"ClientRun(returncode={self.returncode})"


def run_client(env, name, argv, args, client_environment, timeout=CLIENT_TIMEOUT_S, cwd=None):
    """Runs an ACME client to completion; `args` is the part of `argv` worth showing. A timeout
    fails the test without the exception, whose text would show argv (and the HMAC key in it)."""
    timed_out = None
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              env=client_environment, stdin=subprocess.DEVNULL, cwd=cwd)
        return ClientRun(proc.returncode, proc.stdout, proc.stderr)
    except subprocess.TimeoutExpired as t:
        timed_out = (_text(t.stdout), _text(t.stderr))
    # Outside the handler: the failure does not chain the exception.
    env.fail(f"{name} {shown(args)} did not finish in {timeout} s\n{timed_out[0]}\n"
             f"{timed_out[1]}")


def _text(data):
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def check_client(env, name, args, run, log=""):
    """Fails the test unless the client run exited 0."""
    if run.returncode != 0:
        env.fail(f"{name} {shown(args)} exited {run.returncode}\n{run.stdout}\n{run.stderr}"
                 + (f"\n{name} log:\n{log}" if log else ""))
    return run


def certbot(env, workdir, *args, check=True):
    argv = ["certbot", *args, "-n", "--server", env.directory,
            "--config-dir", os.path.join(workdir, "config"),
            "--work-dir", os.path.join(workdir, "work"),
            "--logs-dir", os.path.join(workdir, "logs")]
    run = run_client(env, "certbot", argv, args, client_env(env.server))
    log_path = os.path.join(workdir, "logs", "letsencrypt.log")
    run.log = tail(log_path, 100000)
    run.log_tail = tail(log_path, 40)
    if check:
        check_client(env, "certbot", args, run, run.log_tail)
    return run


def lego(env, workdir, *args, extra_env=None, check=True):
    argv = ["lego", "--server", env.directory, "--accept-tos", "--email", "ops@example.test",
            "--path", workdir, *args]
    run = run_client(env, "lego", argv, args, client_env(env.server, extra_env))
    if check:
        check_client(env, "lego", args, run)
    return run


def split_pem_chain(pem_text):
    """The PEM certificates of a chain file, in order."""
    parts = pem_text.split("-----END CERTIFICATE-----")
    return [p.strip() + "\n-----END CERTIFICATE-----\n" for p in parts if p.strip()]


def verify_against_ca(env, fullchain_path):
    """`openssl verify` of the leaf with certfleet's root as the only trust anchor and the
    intermediate(s) from the served chain; the leaf's serial (lower-case hex, no leading 0)."""
    with open(fullchain_path) as f:
        pems = split_pem_chain(f.read())
    assert len(pems) >= 2, f"{fullchain_path} holds {len(pems)} certificate(s)"
    leaf = fullchain_path + ".leaf.pem"
    chain = fullchain_path + ".chain.pem"
    with open(leaf, "w") as f:
        f.write(pems[0])
    with open(chain, "w") as f:
        f.write("".join(pems[1:]))
    proc = run_tool("openssl", "verify", "-CAfile", env.server.ca_path, "-untrusted", chain, leaf,
                    check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return leaf_serial(leaf)


def leaf_serial(pem_path):
    """The serial of the (first) certificate in `pem_path`: lower-case hex, no leading zeros."""
    serial = run_tool("openssl", "x509", "-in", pem_path, "-noout", "-serial").stdout.decode()
    return serial.strip().split("=", 1)[1].lower().lstrip("0")


def acme_certificates(env, domain=None):
    """The acme-server certificates of the env's account (`certfleet cert list` as its
    operator), only those for exactly [domain] when given."""
    listed = env.operator.cli.json("cert", "list")
    items = listed["items"] if isinstance(listed, dict) else listed
    certs = [c for c in items if c["issuer"] == "acme-server"]
    if domain is not None:
        certs = [c for c in certs if c["domains"] == [domain]]
    return certs
