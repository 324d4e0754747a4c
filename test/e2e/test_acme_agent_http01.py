"""http-01 answered by a real certfleet-agent (issue #6): certfleetd hands the challenge to the
agents whose tags match an `agent-http01` solver, through their long poll; each agent serves it
from its local [http01] configuration (a short-lived listener, or files in a webroot that a real
nginx serves) and acknowledges before certfleetd tells Pebble to validate. Pebble's VA resolves
the names through BIND9 to 127.0.0.1 and fetches http://<name>:<httpPort>/.well-known/....

Its own module (and so its own Pebble): the module of test_acme_issuer.py keeps certfleetd's
listener on that Pebble's httpPort.
"""

import os
import sqlite3
import subprocess
import time

import pytest

import acme_servers
from agents import NGINX, AgentFactory, _listening, wait_until
from test_acme_issuer import AcmeEnv, _label

START_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def bind9():
    yield from acme_servers.running_bind9("certfleet-e2e-acme-agent-bind-")


@pytest.fixture(scope="module")
def pebble(bind9):
    yield from acme_servers.running_pebble("certfleet-e2e-acme-agent-pebble-", bind9)


@pytest.fixture
def env(certfleetd_bin, certfleet_bin, pebble, bind9):
    """certfleetd WITHOUT its own http-01 listener, an account, and agents made per test."""
    e = AcmeEnv(certfleetd_bin, certfleet_bin, pebble, bind9, http01=False)
    e.agents = AgentFactory(e.server, e.admin.cli, e.ws)
    yield e
    failures = e.close()
    assert not failures, failures


def _agent_issuer(env, name, selector, suffix):
    """An agent-http01 solver for `selector` and an issuer using it for names under `suffix`."""
    args = ["solver", "create", "agent-http01", "--name", name, "--account", env.account,
            "--timeout", "60s"]
    for key, value in selector.items():
        args += ["--selector", f"{key}={value}"]
    solver = env.admin.cli.json(*args)
    assert solver["type"] == "agent-http01" and solver["config"]["selector"] == selector, solver
    env.create_issuer(name + "-ca", ["--solver", f"{name}:{suffix}"])
    return name + "-ca"


def _challenge_rows(server):
    db = sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True)
    try:
        return db.execute("SELECT agent_id, state FROM agent_challenges").fetchall()
    finally:
        db.close()


def test_http01_answered_by_the_agents_short_lived_listener(env, pebble):
    """The agent's [http01] listen address is Pebble's httpPort: the listener runs only while a
    token is held. The certificate chains to Pebble's root; afterwards the listener is closed and
    no challenge row is left."""
    agent = env.agents(env.account, {"role": "edge"}, start=False, nginx=False)
    agent.http01 = {"listen": f"127.0.0.1:{pebble.http_port}"}
    agent.start()
    issuer = _agent_issuer(env, "edge", {"role": "edge"}, "edge.example.test")
    assert not _listening(pebble.http_port), "the listener must not run without a token"
    domain = f"{_label('lsn')}.edge.example.test"
    cert = env.request([domain], issuer=issuer)
    assert cert["status"] == "issued", cert
    env.assert_chains_to_pebble(cert["id"], [domain])
    wait_until(lambda: not _challenge_rows(env.server) and not _listening(pebble.http_port),
               60, "challenge withdrawn and listener closed", agent.log_tail)
    log = open(agent.log_path, errors="replace").read()
    assert "http-01" in log, log[-2000:]


class WebrootNginx:
    """A plain-HTTP nginx on 127.0.0.1:<port> serving /.well-known/acme-challenge/ from
    <webroot>, as a web server in front of the agent's webroot would."""

    def __init__(self, prefix, port, webroot):
        self.prefix, self.port, self.webroot = prefix, port, webroot
        self.conf = os.path.join(prefix, "nginx.conf")
        self.error_log = os.path.join(prefix, "error.log")
        self.proc = None
        os.makedirs(prefix, exist_ok=True)

    def start(self):
        p = self.prefix
        lines = ["user root;"] if os.geteuid() == 0 else []
        lines += [
            "daemon off;", "worker_processes 1;", f"pid {p}/nginx.pid;",
            f"error_log {self.error_log};", "events { worker_connections 64; }", "http {",
            "  access_log off;", f"  client_body_temp_path {p}/tmp_body;",
            f"  proxy_temp_path {p}/tmp_proxy;", f"  fastcgi_temp_path {p}/tmp_fcgi;",
            f"  uwsgi_temp_path {p}/tmp_uwsgi;", f"  scgi_temp_path {p}/tmp_scgi;",
            "  server {", f"    listen 127.0.0.1:{self.port};",
            "    location /.well-known/acme-challenge/ {", f"      root {self.webroot};",
            "      default_type application/octet-stream;", "    }",
            "    location / { return 404; }", "  }", "}", ""]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines))
        with open(os.path.join(p, "stderr.log"), "ab") as err:
            self.proc = subprocess.Popen([NGINX, "-e", self.error_log, "-p", p, "-c", self.conf],
                                         stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                         start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and self.proc.poll() is None:
            if _listening(self.port):
                return self
            time.sleep(0.05)  # bounded poll for the listener
        self.stop()
        pytest.fail("webroot nginx did not start", pytrace=False)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)
        self.proc = None


def test_http01_answered_from_the_agents_webroot_behind_nginx(env, pebble):
    """The agent writes the key authorization under its [http01] webroot (0644, atomically);
    a real nginx serves that directory on Pebble's httpPort. Two agents match the selector, so
    certfleetd waits for both acknowledgements; the files are gone afterwards."""
    webroots = []
    for n in (1, 2):
        agent = env.agents(env.account, {"role": "www", "n": str(n)}, start=False, nginx=False)
        webroot = os.path.join(agent.root, "acme-webroot")
        os.makedirs(webroot, mode=0o755)
        agent.http01 = {"webroot": webroot}
        agent.start()
        webroots.append(webroot)
    nginx = WebrootNginx(env.ws.sub("webroot-nginx"), pebble.http_port, webroots[0]).start()
    try:
        issuer = _agent_issuer(env, "www", {"role": "www"}, "www.example.test")
        domain = f"{_label('wr')}.www.example.test"
        cert = env.request([domain], issuer=issuer)
        assert cert["status"] == "issued", cert
        env.assert_chains_to_pebble(cert["id"], [domain])
        challenge_dir = os.path.join(webroots[0], ".well-known", "acme-challenge")
        assert oct(os.stat(challenge_dir).st_mode & 0o777) == "0o755"
        for webroot in webroots:
            d = os.path.join(webroot, ".well-known", "acme-challenge")
            wait_until(lambda d=d: os.path.isdir(d) and not os.listdir(d), 60,
                       f"token files removed from {d}")
        wait_until(lambda: not _challenge_rows(env.server), 60, "challenge rows deleted")
    finally:
        nginx.stop()


def test_an_agent_without_http01_config_fails_the_issuance_clearly(env):
    """The only matching agent has no [http01] section: it says so, and the certificate ends
    `failed` with the agent's reason instead of waiting for a CA timeout."""
    env.agents(env.account, {"role": "bare"}, start=True, nginx=False)
    issuer = _agent_issuer(env, "bare", {"role": "bare"}, "bare.example.test")
    detail = _failed_detail(env, f"{_label('bare')}.bare.example.test", issuer)
    assert "has no [http01] section" in detail, detail
    # The withdrawal still reaches that agent, which acknowledges it: no row is left behind.
    wait_until(lambda: not _challenge_rows(env.server), 60, "challenge rows deleted")
    # No matching agent at all is refused just as clearly.
    issuer = _agent_issuer(env, "nobody", {"role": "nobody"}, "nobody.example.test")
    detail = _failed_detail(env, f"{_label('nb')}.nobody.example.test", issuer)
    assert "no active agent of the account matches the http-01 selector role=nobody" in detail, \
        detail


def _failed_detail(env, domain, issuer):
    proc = env.request([domain], issuer=issuer, check=False)
    assert proc.returncode != 0, proc.stdout
    cert = [c for c in env.admin.cli.json("cert", "list")["items"] if c["domains"] == [domain]][0]
    cert = env.wait_status(cert["id"], ("failed",))
    return cert["status_detail"]
