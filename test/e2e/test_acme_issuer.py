"""The ACME issuer (issue #6) end to end, through the certfleet CLI against a real Pebble whose
VA resolves through a real BIND9 (acme_servers.py): dns-01 through RFC 2136 (one name, a wildcard
with its apex, a CNAME delegated into a second zone), http-01 answered by certfleetd's own
listener, an exec solver, failed validations that end in a clear error and an event, 20
issuances with Pebble's 5% nonce rejection on, and a renewal by the scheduler (test clock)
deployed to a real nginx agent.
"""

import base64
import json
import os
import re
import secrets
import signal
import sqlite3
import stat
import subprocess
import time

import pytest

import acme_servers
from agents import AgentFactory, normalize_serial, wait_until
from conftest import Cli, Server, Workspace, create_account, create_principal, unique_name
from receiver import Receiver, subscribe

ISSUE_TIMEOUT_S = 180.0
DAY = 86400
PEBBLE_VALIDITY_S = 30 * DAY


@pytest.fixture(scope="module")
def bind9():
    yield from acme_servers.running_bind9("certfleet-e2e-acme-bind-")


@pytest.fixture(scope="module")
def pebble(bind9):
    # Pebble's defaults stay on, notably 5% of good nonces rejected (badNonce): certfleet
    # retries. Its certificates live 30 days, so the renewal test moves the clock 21 days.
    yield from acme_servers.running_pebble("certfleet-e2e-acme-pebble-", bind9,
                                           validity_seconds=PEBBLE_VALIDITY_S)


class AcmeEnv:
    """A certfleetd (its http-01 listener on Pebble's httpPort), an account with an admin, a
    `bind` rfc2136 solver and a `pebble` issuer: http-01 for names under web.example.test,
    dns-01 through BIND9 for the rest."""

    def __init__(self, certfleetd_bin, certfleet_bin, pebble, bind9, clock_offset=None,
                 http01=True):
        self.ws = Workspace("certfleet-e2e-acme-")
        self.pebble, self.bind9 = pebble, bind9
        self.server = Server(certfleetd_bin, self.ws.sub("data"))
        os.mkdir(self.server.data_dir, 0o700)
        self.server.extra_args = ["--pkcs8-iterations", "10000", "--scheduler-interval", "1s",
                                  "--agent-cert-validity", "398d"]
        if http01:
            self.server.extra_args += ["--http01-listen", f"127.0.0.1:{pebble.http_port}"]
        if clock_offset is not None:
            self.server.use_test_clock(clock_offset)
        # Exec solver programs are named in certfleetd's configuration (issue #13).
        self.server.config += _exec_programs_config(self.ws, bind9)
        self.server.start()
        self.cli = Cli(certfleet_bin, self.server)
        self.account = create_account(self.cli)["id"]
        self.admin = create_principal(self.cli, self.ws, self.account, "admin")
        self.receiver = Receiver()
        self.agents = None
        self.admin.cli.json("solver", "create", "rfc2136", "--name", "bind", "--account",
                            self.account, "--server", f"127.0.0.1:{bind9.port}",
                            "--tsig-key-file", bind9.tsig_key_path)
        self.trust = self.ws.sub("pebble-listener-ca.pem")
        with open(pebble.ca_file) as src, open(self.trust, "w") as dst:
            dst.write(src.read())
        solvers = (["--solver", "http01:web.example.test"] if http01 else []) + ["--solver", "bind"]
        self.issuer = self.create_issuer("pebble", solvers)

    def create_issuer(self, name, solver_args):
        return self.admin.cli.json("issuer", "create", "acme", "--name", name, "--account",
                                   self.account, "--directory", self.pebble.directory_url,
                                   "--trust", self.trust, "--contact", "admin@example.test",
                                   *solver_args)

    def request(self, domains, issuer="pebble", wait=True, check=True):
        name = unique_name("acme")
        args = ["cert", "request", "--name", name, "--issuer", issuer, "--exportable"]
        for d in domains:
            args += ["--domain", d]
        if wait:
            args += ["--wait", "--wait-timeout", "3m"]
        if not check:
            return self.admin.cli.run(*args, "--json", check=False)
        return self.admin.cli.json(*args)

    def show(self, cert_id):
        return self.admin.cli.json("cert", "show", cert_id)

    def wait_status(self, cert_id, statuses):
        def check():
            c = self.show(cert_id)
            return c if c["status"] in statuses else None
        return wait_until(check, ISSUE_TIMEOUT_S, f"{cert_id} {statuses}",
                          lambda: self.server.log_tail(40))

    def export(self, cert_id):
        out = self.ws.sub("export-" + cert_id)
        self.admin.cli("cert", "export", cert_id, "--out", out)
        return out

    def assert_chains_to_pebble(self, cert_id, domains):
        out = self.export(cert_id)
        root = self.pebble.write_root(self.ws.sub("pebble-root.pem"))
        verify = subprocess.run(["openssl", "verify", "-CAfile", root, "-untrusted",
                                 os.path.join(out, "chain.pem"), os.path.join(out, "cert.pem")],
                                capture_output=True, text=True, timeout=20)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        san = subprocess.run(["openssl", "x509", "-in", os.path.join(out, "cert.pem"), "-noout",
                              "-ext", "subjectAltName"], capture_output=True, text=True,
                             timeout=20).stdout
        for d in domains:
            assert f"DNS:{d}" in san, san

    def close(self):
        failures = []
        try:
            if self.agents is not None:
                failures = self.agents.teardown()
        finally:
            self.receiver.close()
            try:
                self.server.stop()
            finally:
                self.ws.cleanup()
        return failures


@pytest.fixture(scope="module")
def acme_env(certfleetd_bin, certfleet_bin, pebble, bind9):
    env = AcmeEnv(certfleetd_bin, certfleet_bin, pebble, bind9)
    yield env
    env.close()


def _label(prefix):
    return f"{prefix}-{secrets.token_hex(4)}"


def _txt_left(bind9, name):
    return bind9.query(name, "TXT")


# --- dns-01 ----------------------------------------------------------------------------------

def test_dns01_single_name_through_bind9(acme_env, bind9):
    domain = f"{_label('one')}.example.test"
    cert = acme_env.request([domain])
    assert cert["status"] == "issued", cert
    assert cert["issuer"] == "pebble" and cert["version"] == 1, cert
    acme_env.assert_chains_to_pebble(cert["id"], [domain])
    assert _txt_left(bind9, f"_acme-challenge.{domain}") == [], "challenge TXT not cleaned up"


def test_dns01_wildcard_and_apex(acme_env, bind9):
    apex = f"{_label('wild')}.example.test"
    cert = acme_env.request([f"*.{apex}", apex])
    assert cert["status"] == "issued", cert
    acme_env.assert_chains_to_pebble(cert["id"], [f"*.{apex}", apex])
    assert _txt_left(bind9, f"_acme-challenge.{apex}") == []


def test_dns01_cname_delegation_into_a_second_zone(acme_env, bind9):
    """`_acme-challenge.app` is a CNAME into delegated.test, set once: certfleet writes the TXT
    there, and removes it afterwards."""
    label = _label("app")
    domain = f"{label}.example.test"
    target = f"{label}.delegated.test"
    bind9.add_record("example.test", f"_acme-challenge.{domain}", "CNAME", target + ".")
    cert = acme_env.request([domain])
    assert cert["status"] == "issued", cert
    acme_env.assert_chains_to_pebble(cert["id"], [domain])
    assert bind9.query(target, "TXT") == [], "delegated TXT not cleaned up"


def test_revocation_is_sent_to_the_ca(acme_env, pebble):
    """`cert revoke` of an ACME certificate asks the CA (revokeCert): Pebble then reports the
    serial revoked on its management interface."""
    cert = acme_env.request([f"{_label('rev')}.example.test"])
    assert cert["status"] == "issued", cert
    serial = normalize_serial(cert["serial"])
    status, body = pebble._get(pebble.mgmt_port, f"/cert-status-by-serial/{serial}")
    assert status == 200 and json.loads(body)["Status"] == "Valid", body
    revoked = acme_env.admin.cli.json("cert", "revoke", cert["id"], "--reason", "superseded")
    assert revoked["status"] == "revoked", revoked
    status, body = pebble._get(pebble.mgmt_port, f"/cert-status-by-serial/{serial}")
    assert status == 200 and json.loads(body)["Status"] == "Revoked", body


def test_external_account_binding_from_a_secret_file(acme_env, bind9):
    """A CA that requires external account binding (a second Pebble): `issuer create` without
    EAB is refused with the CA's reason and nothing is stored; with --eab-kid and
    --eab-hmac-file the account is registered and certificates are issued. The HMAC key never
    shows in argv, the API's answers or the log."""
    env = acme_env
    hmac_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    gen = acme_servers.running_pebble("certfleet-e2e-acme-eab-", bind9,
                                      eab_keys={"kid-1": hmac_key})
    eab_pebble = next(gen)
    try:
        trust = env.ws.sub("eab-pebble-ca.pem")
        with open(eab_pebble.ca_file) as src, open(trust, "w") as dst:
            dst.write(src.read())
        base = ["issuer", "create", "acme", "--name", "eab", "--account", env.account,
                "--directory", eab_pebble.directory_url, "--trust", trust, "--solver", "bind"]
        proc = env.admin.cli.run(*base, check=False)
        assert proc.returncode != 0, proc.stdout
        assert "external account" in proc.stderr.lower(), proc.stderr
        hmac_file = env.ws.sub("eab.hmac")
        fd = os.open(hmac_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(hmac_key + "\n")
        issuer = env.admin.cli.json(*base, "--eab-kid", "kid-1", "--eab-hmac-file", hmac_file)
        assert issuer["has_eab"] is True, issuer
        assert hmac_key not in json.dumps(issuer)
        domain = f"{_label('eab')}.example.test"
        cert = env.request([domain], issuer="eab")
        assert cert["status"] == "issued", cert
        assert hmac_key.encode() not in env.server.log_bytes()
    finally:
        gen.close()


# --- http-01 ---------------------------------------------------------------------------------

def test_http01_served_by_certfleetd(acme_env):
    domain = f"{_label('site')}.web.example.test"
    cert = acme_env.request([domain])
    assert cert["status"] == "issued", cert
    acme_env.assert_chains_to_pebble(cert["id"], [domain])


def test_twenty_issuances_with_nonce_rejection_on(acme_env, pebble):
    """Pebble rejects 5% of good nonces (its default, left on): every one of 20 requests, made
    back to back and issued by the job worker, ends issued."""
    assert "PEBBLE_WFE_NONCEREJECT" not in pebble.env
    ids = []
    for i in range(20):
        cert = acme_env.request([f"{_label('n' + str(i))}.web.example.test"], wait=False)
        assert cert["status"] == "pending", cert
        ids.append(cert["id"])
    for cert_id in ids:
        c = acme_env.wait_status(cert_id, {"issued", "failed"})
        assert c["status"] == "issued", c


# --- failures ---------------------------------------------------------------------------------

# The failure tests' programs: "noop" plants nothing, "wrong" plants another value. They are
# configured in certfleetd.toml for every account; a solver picks one by name.
def _exec_programs_config(ws, bind9):
    wrong = (
        "#!/bin/sh\n"
        "req=$(cat)\n"
        "fqdn=$(printf '%s' \"$req\" | sed -n 's/.*\"fqdn\":\"\\([^\"]*\\)\".*/\\1/p')\n"
        "action=$(printf '%s' \"$req\" | sed -n 's/.*\"action\":\"\\([^\"]*\\)\".*/\\1/p')\n"
        "if [ \"$action\" = present ]; then\n"
        f"  printf 'server 127.0.0.1 {bind9.port}\\nzone example.test\\n"
        "update add %s. 60 TXT \"wrong-value\"\\nsend\\n' \"$fqdn\" | "
        f"nsupdate -k {bind9.tsig_key_path} >&2 || exit 3\n"
        "fi\n"
        "echo '{\"ok\":true}'\n")
    scripts = {"noop": "#!/bin/sh\ncat >/dev/null\necho '{\"ok\":true}'\n", "wrong": wrong}
    text = ""
    for name, script in scripts.items():
        path = ws.sub(f"{name}.sh")
        with open(path, "w") as f:
            f.write(script)
        os.chmod(path, stat.S_IRWXU)
        text += (f'\n[exec_solvers.{name}]\nprogram = "{path}"\ntimeout = "30s"\n'
                 'accounts = ["*"]\n')
    return text


def _exec_solver(env, name):
    env.admin.cli.json("solver", "create", "exec", "--name", name, "--account", env.account,
                       "--program", name)


def test_failed_validation_is_a_clear_error_and_an_event(acme_env, bind9):
    """No TXT record (a solver that plants nothing), then a wrong one (a solver that plants
    another value): both end `failed` with Pebble's problem in clear words and a
    certificate.issue_failed event; the command does not hang."""
    env = acme_env
    subscribe(env.cli, env.ws, env.receiver.url, ["certificate.issue_failed"],
              account=env.account)
    _exec_solver(env, "noop")
    _exec_solver(env, "wrong")
    env.create_issuer("noop-ca", ["--solver", "noop"])
    env.create_issuer("wrong-ca", ["--solver", "wrong"])

    # Pebble's own words for the two cases.
    for issuer, expect in (("noop-ca", r"No TXT records found"),
                           ("wrong-ca", r"Correct value not found")):
        domain = f"{_label('bad')}.example.test"
        proc = env.request([domain], issuer=issuer, check=False)
        assert proc.returncode != 0, proc.stdout
        out = proc.stdout + proc.stderr
        assert "failed" in out, out
        cert = [c for c in env.admin.cli.json("cert", "list")["items"]
                if c["domains"] == [domain]][0]
        cert = env.show(cert["id"])
        assert cert["status"] == "failed", cert
        detail = cert["status_detail"]
        assert "the CA refused: unauthorized" in detail, detail  # the problem type, in words
        assert re.search(expect, detail), detail
        assert domain in detail, detail

        def event():
            got = [e for e in env.receiver.events()
                   if e["type"] == "io.certfleet.certificate.issue_failed"
                   and e["subject"] == cert["id"]]
            return got or None
        [e] = wait_until(event, 60, "certificate.issue_failed", lambda: env.server.log_tail(30))
        assert "unauthorized" in e["data"]["error"] and domain in e["data"]["error"], e


def test_issuer_and_solver_validation(acme_env):
    env = acme_env
    proc = env.admin.cli.run("issuer", "create", "acme", "--name", "plain", "--account",
                             env.account, "--directory", "http://127.0.0.1:1/dir",
                             "--solver", "bind", check=False)
    assert proc.returncode != 0 and "https://" in proc.stderr, proc.stderr
    proc = env.admin.cli.run("issuer", "create", "acme", "--name", "nosolver", "--account",
                             env.account, "--directory", env.pebble.directory_url, "--trust",
                             env.trust, "--solver", "missing", check=False)
    assert proc.returncode != 0 and "unknown solver" in proc.stderr, proc.stderr
    proc = env.admin.cli.run("cert", "request", "--name", unique_name("x"), "--domain",
                             "x.example.test", "--issuer", "nope", check=False)
    assert proc.returncode != 0 and "unknown issuer" in proc.stderr, proc.stderr
    # Secrets never come back: no TSIG secret, no account key, in any view.
    shown = env.admin.cli.run("solver", "show", "bind", "--account", env.account,
                              "--json").stdout
    assert env.bind9.tsig_secret not in shown
    issuer = env.admin.cli.json("issuer", "show", "pebble", "--account", env.account)
    assert issuer["config"]["account_url"].startswith("https://127.0.0.1:"), issuer
    assert "PRIVATE KEY" not in json.dumps(issuer)
    assert env.bind9.tsig_secret.encode() not in env.server.log_bytes()


# --- crash ----------------------------------------------------------------------------------

def _stored_order(server, cert_id):
    db = sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT order_url FROM acme_orders WHERE certificate_id = ?",
                          (cert_id,)).fetchall()
    finally:
        db.close()
    return [r[0] for r in rows]


def test_kill_after_the_order_is_recorded_resumes_the_same_order(certfleetd_bin, certfleet_bin,
                                                                   pebble, bind9):
    """certfleetd is SIGKILLed right after the order URL is stored, before any challenge is
    answered (failpoint acme.order_recorded). After a restart, once the dead worker's job lease
    has passed (test clock), the job continues that same order: the certificate is issued and
    the stored order URL has not changed."""
    env = AcmeEnv(certfleetd_bin, certfleet_bin, pebble, bind9, clock_offset=0, http01=False)
    try:
        env.server.stop()
        env.server.extra_env = {"CERTFLEET_FAILPOINT": "acme.order_recorded"}
        env.server.start(same_port=True)
        cert = env.request([f"{_label('crash')}.example.test"], wait=False)
        assert env.server.proc.wait(timeout=60) == -signal.SIGKILL
        assert b'"failpoint":"acme.order_recorded"' in env.server.log_bytes()
        env.server.proc = None
        [order_url] = _stored_order(env.server, cert["id"])

        env.server.extra_env = {}
        env.server.start(same_port=True)
        assert env.show(cert["id"])["status"] == "pending"
        env.server.set_clock(120)  # the killed worker's 30 s job lease is over
        done = env.wait_status(cert["id"], {"issued", "failed"})
        assert done["status"] == "issued", done
        assert _stored_order(env.server, cert["id"]) == [order_url]
    finally:
        env.close()


# --- renewal ----------------------------------------------------------------------------------

def test_renewal_by_the_scheduler_is_deployed_to_nginx(certfleetd_bin, certfleet_bin, pebble,
                                                       bind9):
    """A 30-day Pebble certificate deployed to a real nginx agent; the test clock moves 21 days:
    the scheduler renews it through Pebble (dns-01) and the agent's nginx serves the new
    serial."""
    env = AcmeEnv(certfleetd_bin, certfleet_bin, pebble, bind9, clock_offset=0, http01=False)
    failures = []
    try:
        subscribe(env.cli, env.ws, env.receiver.url,
                  ["certificate.renewed", "certificate.renewal_anomaly"], account=env.account)
        env.agents = AgentFactory(env.server, env.admin.cli, env.ws)
        domain = f"{_label('renew')}.example.test"
        cert = env.request([domain])
        assert cert["status"] == "issued", cert
        # Pebble's root is not a public one: the agent is told to accept bundles chaining to it.
        agent = env.agents(env.account, {"env": "acme"}, start=False)
        agent.extra_args = ["--bundle-roots", pebble.write_root(env.ws.sub("pebble-root.pem"))]
        agent.start()
        dep = env.admin.cli.json("deploy", "create", "--cert", cert["id"], "--account",
                                 env.account, "--profile", "nginx", "--selector", "env=acme")

        def target_at(generation):
            def check():
                d = env.admin.cli.json("deploy", "show", dep["id"])
                t = {t["agent"]: t for t in d["targets"]}.get(agent.id)
                return d if t and t["generation"] >= generation and t["state"] == "verified" \
                    else None
            return check
        wait_until(target_at(1), ISSUE_TIMEOUT_S, "first deployment", agent.log_tail)
        assert agent.nginx.served_serial() == normalize_serial(cert["serial"])

        env.server.set_clock(21 * DAY)  # 9 of 30 days left: inside the last third

        def renewed():
            c = env.show(cert["id"])
            return c if c.get("version", 0) >= 2 else None
        c2 = wait_until(renewed, ISSUE_TIMEOUT_S, "renewal", lambda: env.server.log_tail(40))
        new_serial = normalize_serial(c2["serial"])
        assert new_serial != normalize_serial(cert["serial"])
        wait_until(target_at(2), ISSUE_TIMEOUT_S, "redeployment", agent.log_tail)
        wait_until(lambda: agent.nginx.served_serial() == new_serial, ISSUE_TIMEOUT_S,
                   "nginx serving the renewed certificate")
        env.assert_chains_to_pebble(cert["id"], [domain])
        # No renewal storm: certfleetd's clock is 21 days ahead of Pebble's, so version 2 is
        # already inside its window by notBefore; the scheduler plans it by certfleetd's own
        # clock instead, about 20 days after it was stored (issue #14).
        v2 = env.show(cert["id"])
        assert v2["version"] == 2, v2

        def planned():
            with sqlite3.connect(env.server.db_path) as db:
                row = db.execute("SELECT version_id, next_attempt_at FROM renewal_states "
                                 "WHERE certificate_id = ?", (cert["id"],)).fetchone()
            return row if row and row[0] == v2["version_id"] else None
        _, next_attempt_at = wait_until(planned, ISSUE_TIMEOUT_S, "version 2 planned")
        assert next_attempt_at > time.time() + 21 * DAY + 15 * DAY, next_attempt_at
        # ... and says so once, naming the clock difference it sees (docs/events.md).
        anomaly = env.receiver.wait(
            lambda r: json.loads(r["body"])["type"] == "io.certfleet.certificate.renewal_anomaly",
            "certificate.renewal_anomaly")[0]  # delivery is at least once: counted below
        data = json.loads(anomaly["body"])["data"]
        assert data["certificate_id"] == cert["id"] and data["version_id"] == v2["version_id"], data
        assert data["reason"] == "clock_skew", data
        assert abs(data["clock_skew_seconds"] - 21 * DAY) < 2 * 3600, data

        # Several scheduler ticks later (each extends the scheduler's lease) nothing more has
        # happened: one renewal, one anomaly.
        def lease_expiry():
            with sqlite3.connect(env.server.db_path) as db:
                row = db.execute("SELECT expires_at FROM leases WHERE name = "
                                 "'renewal-scheduler'").fetchone()
            return row[0] if row else 0
        ticked = lease_expiry()
        wait_until(lambda: lease_expiry() >= ticked + 3, ISSUE_TIMEOUT_S, "three more ticks")
        assert env.show(cert["id"])["version"] == 2
        seen = {}
        for e in env.receiver.events():
            if e["subject"] == cert["id"]:
                seen.setdefault(e["type"], set()).add(e["id"])  # at least once: dedupe by id
        assert len(seen.get("io.certfleet.certificate.renewed", ())) == 1, seen
        assert len(seen.get("io.certfleet.certificate.renewal_anomaly", ())) == 1, seen
    finally:
        failures = env.close()
    assert not failures, failures
