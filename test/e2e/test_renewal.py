"""Renewal and re-deployment with no human touch (issue #5), through the real binaries: certfleetd
on its test clock (--test-clock-file; the tests move time by days instead of waiting), real
certfleet-agent processes with a real nginx each (agents.py), and a real webhook receiver
(receiver.py).

Every test has a certfleetd of its own, because a test clock only moves forward. Servers start
in the past (a negative offset) so that everything they issue early is valid in real time too:
agents and nginx check certificates against the real clock, and "advancing" the server's clock
to the present moves it into the renewal window of certificates it issued "61 days ago".
"""

import json
import os
import re
import signal
import time

import pytest

from agents import AgentFactory, normalize_serial, wait_until
from conftest import Cli, Server, Workspace, create_account, create_principal, unique_name
from receiver import Receiver, subscribe, verify

DAY = 86400
CONVERGE_S = 120.0
# Ticks of the scheduler (--scheduler-interval 1s) to let pass before checking that something
# did NOT happen: a bounded observation window, not a wait for time to pass.
QUIET_S = 3.0


class Env:
    """A certfleetd on its test clock, the admin CLI, an account with an admin principal, agents
    and a webhook receiver; everything is stopped at teardown."""

    def __init__(self, certfleetd_bin, certfleet_bin, offset, extra_env=None):
        self.ws = Workspace("certfleet-e2e-renewal-")
        self.server = Server(certfleetd_bin, self.ws.sub("data"))
        os.mkdir(self.server.data_dir, 0o700)
        # The clock starts up to 61 days back and moves forward: the bootstrap admin token
        # (30 days by default, issue #13) must outlive that.
        self.server.extra_args = ["--pkcs8-iterations", "10000", "--scheduler-interval", "1s",
                                  "--agent-cert-validity", "398d",
                                  "--admin-token-validity", "3650d"]
        self.server.extra_env = dict(extra_env or {})
        self.server.use_test_clock(offset)
        self.offset = offset
        self.server.start()
        self.cli = Cli(certfleet_bin, self.server)
        self.workdir = self.ws  # Workspace has what the helpers need (sub, path)
        self.account = create_account(self.cli)["id"]
        self.admin = create_principal(self.cli, self.ws, self.account, "admin")
        self.agents = AgentFactory(self.server, self.admin.cli, self.ws)
        self.receiver = Receiver()

    def set_clock(self, offset):
        self.server.set_clock(offset)
        self.offset = offset

    def subscribe(self, types):
        return subscribe(self.cli, self.ws, self.receiver.url, types, account=self.account)

    def request_cert(self, validity="90d", *extra):
        name = unique_name("rn")
        cert = self.admin.cli.json("cert", "request", "--name", name, "--domain",
                                   f"{name}.example.test", "--exportable", "--validity",
                                   validity, *extra)
        assert cert["status"] == "issued", cert
        return cert

    def cert(self, cert_id):
        return self.admin.cli.json("cert", "show", cert_id)

    def deploy(self, cert_id):
        dep = self.admin.cli.json("deploy", "create", "--cert", cert_id, "--account",
                                  self.account, "--profile", "nginx", "--selector", "env=dev")
        return dep

    def deployment(self, dep_id):
        return self.admin.cli.json("deploy", "show", dep_id)

    def wait_cert_version(self, cert_id, version):
        def check():
            c = self.cert(cert_id)
            return c if c.get("version", 0) >= version else None
        return wait_until(check, CONVERGE_S, f"certificate version {version}",
                          lambda: self.server.log_tail(30))

    def wait_target(self, dep_id, agent, generation):
        """Waits until `agent`'s target of the deployment is verified at `generation`."""
        def check():
            d = self.deployment(dep_id)
            t = {t["agent"]: t for t in d["targets"]}.get(agent.id)
            return d if t and t["generation"] >= generation and t["state"] == "verified" else None
        return wait_until(check, CONVERGE_S, f"{agent.base} verified at generation {generation}",
                          lambda: agent.log_tail(20) + "\n" + json.dumps(self.deployment(dep_id)))

    def events(self, type_, subject):
        return [e for e in self.receiver.events()
                if e["type"] == "io.certfleet." + type_ and e["subject"] == subject]

    def wait_event(self, type_, subject, count=1):
        def check():
            got = self.events(type_, subject)
            return got if len(got) >= count else None
        return wait_until(check, CONVERGE_S, f"{count} x {type_} for {subject}",
                          lambda: self.server.log_tail(30))

    def metrics(self):
        resp = self.server.request("GET", "/metrics")
        assert resp.status == 200, resp
        return resp.body.decode()

    def close(self):
        failures = []
        try:
            failures = self.agents.teardown()
        finally:
            self.receiver.close()
            try:
                self.server.stop()
            finally:
                self.ws.cleanup()
        return failures


@pytest.fixture
def renewal_env(certfleetd_bin, certfleet_bin):
    made = []

    def make(offset, extra_env=None):
        env = Env(certfleetd_bin, certfleet_bin, offset, extra_env)
        made.append(env)
        return env

    yield make
    failures = []
    for env in made:
        failures += env.close()
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


def serial_of(cert):
    return normalize_serial(cert["serial"])


def expect_served(agent, serial, what):
    got = agent.nginx.served_serial()
    assert got == serial, f"{what}: nginx of {agent.base} serves {got}, expected {serial}"


def metric_value(text, name, labels=""):
    """The value of the sample `name{labels}` (labels as written, e.g. 'state="verified"'), or
    None."""
    pattern = re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else "") + \
        r" ([0-9.eE+-]+)$"
    for line in text.splitlines():
        m = re.match(pattern, line)
        if m:
            return float(m.group(1))
    return None


# --- the full loop ---------------------------------------------------------------------------

def test_full_loop_renews_redeploys_and_tells_webhooks(renewal_env):
    """Issue, deploy to two real nginx agents, move the clock into the renewal window: the
    certificate renews by itself, both nginx serve the new serial over TLS, the inventory shows
    the new version, and certificate.renewed and deployment.succeeded reach a real receiver with
    valid signatures."""
    env = renewal_env(-61 * DAY)
    env.subscribe(["certificate.renewed", "deployment.succeeded"])
    cert = env.request_cert("90d")
    a1 = env.agents(env.account, {"env": "dev"})
    a2 = env.agents(env.account, {"env": "dev"})
    dep = env.deploy(cert["id"])
    for agent in (a1, a2):
        env.wait_target(dep["id"], agent, 1)
        expect_served(agent, serial_of(cert), "before the renewal")

    env.wait_event("deployment.succeeded", dep["id"])
    before = len(env.receiver.requests)
    for r in env.receiver.requests:  # signed on the server's clock of then
        assert verify(r["headers"], r["body"], clock_offset=env.offset), r["headers"]

    # 61 days later, 29 of 90 days are left: inside the last third.
    env.set_clock(0)
    renewed = env.wait_cert_version(cert["id"], 2)
    new_serial = serial_of(renewed)
    assert new_serial != serial_of(cert)
    for agent in (a1, a2):
        env.wait_target(dep["id"], agent, 2)
        wait_until(lambda: agent.nginx.served_serial() == new_serial, CONVERGE_S,
                   f"{agent.base} serving the renewed certificate")

    rows = env.admin.cli.json("inventory", "--cert", cert["id"])["items"]
    assert {r["agent"] for r in rows} == {a1.id, a2.id}, rows
    for r in rows:
        assert r["version"] == 2 and normalize_serial(r["serial"]) == new_serial, r
        assert r["state"] == "verified", r

    [event] = env.wait_event("certificate.renewed", cert["id"])
    assert normalize_serial(event["data"]["serial"]) == new_serial, event
    assert event["data"]["version_id"] == renewed["version_id"], (event, renewed)
    succeeded = env.wait_event("deployment.succeeded", dep["id"], 2)
    assert [e["data"]["generation"] for e in succeeded] == [1, 2], succeeded
    assert succeeded[1]["data"]["version_id"] == event["data"]["version_id"], succeeded
    for r in env.receiver.requests[before:]:
        assert verify(r["headers"], r["body"], clock_offset=env.offset), r["headers"]
    # The old version stays in the store until it expires; the renewal event says which it was.
    assert event["data"]["previous_serial"], event


# --- an agent offline during the renewal -----------------------------------------------------

def test_offline_agent_gets_only_the_newest_version_once(renewal_env):
    """An agent that is down through two renewals receives only the newest version, once, when
    it comes back; the agent that stayed up followed every version."""
    env = renewal_env(-61 * DAY)
    cert = env.request_cert("90d")
    up = env.agents(env.account, {"env": "dev"})
    down = env.agents(env.account, {"env": "dev"})
    dep = env.deploy(cert["id"])
    env.wait_target(dep["id"], up, 1)
    env.wait_target(dep["id"], down, 1)
    assert down.stop() == 0

    env.set_clock(0)  # the scheduler renews: version 2
    v2 = env.wait_cert_version(cert["id"], 2)
    env.wait_target(dep["id"], up, 2)
    expect_served(up, serial_of(v2), "the agent that stayed up, version 2")
    env.admin.cli.json("cert", "renew", cert["id"])  # on demand: version 3
    v3 = env.wait_cert_version(cert["id"], 3)
    env.wait_target(dep["id"], up, 3)
    wait_until(lambda: up.nginx.served_serial() == serial_of(v3), CONVERGE_S,
               "the agent that stayed up serving version 3")
    expect_served(down, serial_of(cert), "the agent that was down, before it returns")

    mark = len(down.log_text())
    down.start()
    env.wait_target(dep["id"], down, 3)
    wait_until(lambda: down.nginx.served_serial() == serial_of(v3), CONVERGE_S,
               "the returning agent serving version 3")
    since = down.log_text()[mark:]
    received = [ln for ln in since.splitlines() if '"job received"' in ln and dep["id"] in ln]
    assert len(received) == 1, "\n".join(received)
    rows = {r["agent"]: r for r in env.admin.cli.json("inventory", "--cert", cert["id"])["items"]}
    assert rows[down.id]["version"] == 3 and rows[up.id]["version"] == 3, rows


# --- a crash between the renewal's commit and the event's delivery ---------------------------

def test_kill_between_renewal_commit_and_delivery(renewal_env):
    """certfleetd is SIGKILLed right after a renewal commits (failpoint renewal.committed), before
    anything has acted on its certificate.renewed event. After a restart the webhook gets the
    event once, and the deployment is redeployed once (one new generation)."""
    env = renewal_env(0, extra_env={"CERTFLEET_FAILPOINT": "renewal.committed"})
    env.subscribe(["certificate.renewed"])
    cert = env.request_cert("90d")
    agent = env.agents(env.account, {"env": "dev"})
    dep = env.deploy(cert["id"])
    env.wait_target(dep["id"], agent, 1)

    proc = env.admin.cli.run("cert", "renew", cert["id"], check=False)
    assert proc.returncode != 0, proc.stdout
    assert env.server.proc.wait(timeout=30) == -signal.SIGKILL
    assert b'"failpoint":"renewal.committed"' in env.server.log_bytes()
    env.server.proc = None
    assert env.events("certificate.renewed", cert["id"]) == []

    env.server.extra_env = {}
    env.server.start(same_port=True)
    renewed = env.wait_cert_version(cert["id"], 2)  # the renewal had committed
    [event] = env.wait_event("certificate.renewed", cert["id"])
    assert normalize_serial(event["data"]["serial"]) == serial_of(renewed), event
    d = env.wait_target(dep["id"], agent, 2)
    wait_until(lambda: agent.nginx.served_serial() == serial_of(renewed), CONVERGE_S,
               "the agent serving the renewed certificate")
    time.sleep(QUIET_S)  # would a second redeploy or delivery follow? (bounded observation)
    assert env.deployment(dep["id"])["generation"] == 2, "redeployed more than once"
    assert len(env.events("certificate.renewed", cert["id"])) == 1
    assert d["generation"] == 2


# --- the failure path ------------------------------------------------------------------------

def test_failed_renewal_backs_off_emits_and_shows_in_metrics(renewal_env):
    """A renewal the account policy refuses fails, emits certificate.renewal_failed, is retried
    only after a backoff, counts in /metrics, and succeeds once the policy allows it again."""
    env = renewal_env(-61 * DAY)
    env.subscribe(["certificate.renewal_failed", "certificate.renewed"])
    cert = env.request_cert("90d")
    policy = env.ws.sub("policy.toml")
    with open(policy, "w") as f:
        f.write('[request]\nallowed_domains = ["*.elsewhere.test"]\n')
    env.cli("policy", "set", "--account", env.account, "--file", policy)

    env.set_clock(0)
    [first] = env.wait_event("certificate.renewal_failed", cert["id"])
    assert "domains.not_allowed" in first["data"]["error"] or "not allowed" in \
        first["data"]["error"], first
    assert "renewal failed" in env.cert(cert["id"])["status_detail"]
    time.sleep(QUIET_S)  # the scheduler ticks every second; the backoff holds it back
    assert len(env.events("certificate.renewal_failed", cert["id"])) == 1

    env.set_clock(120)  # past the first backoff (at most 60 s)
    failures = env.wait_event("certificate.renewal_failed", cert["id"], 2)
    t1, t2 = (int(_unix(e["time"])) for e in failures[:2])
    assert t2 - t1 >= 30, (t1, t2)  # the backoff's lower half is never used
    text = env.metrics()
    value = metric_value(text, "certfleet_renewal_failures_total")
    assert value is not None and value >= 2, [ln for ln in text.splitlines() if "renewal" in ln]

    with open(policy, "w") as f:
        f.write("# no restrictions\n")
    env.cli("policy", "set", "--account", env.account, "--file", policy)
    env.set_clock(600)  # past the second backoff (at most 120 s)
    renewed = env.wait_cert_version(cert["id"], 2)
    assert renewed["status"] == "issued"
    env.wait_event("certificate.renewed", cert["id"])
    assert metric_value(env.metrics(), "certfleet_renewals_total") >= 1


def _unix(rfc3339):
    import datetime
    return datetime.datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


# --- expiry warnings -------------------------------------------------------------------------

def test_expiry_warnings_fire_once_per_day(renewal_env):
    """certificate.approaching_expiration: from 30 days before expiry (the default), once per
    day, never twice in a day, and one event (not a backlog) after days without a tick.
    (certificate.expired needs a certificate that failed to renew: see the unit tests.)"""
    env = renewal_env(-40 * DAY)
    env.subscribe(["certificate.approaching_expiration", "certificate.expired"])
    cert = env.request_cert("40d", "--renew-before", "1h")  # keep the renewal out of the way
    cid = cert["id"]
    time.sleep(QUIET_S)
    assert env.events("certificate.approaching_expiration", cid) == []  # 40 days left

    env.set_clock(-30 * DAY + 3600)  # 30 days minus an hour left
    [first] = env.wait_event("certificate.approaching_expiration", cid)
    assert first["data"]["days_remaining"] == 30, first
    env.set_clock(-30 * DAY + 5 * 3600)  # the same day
    time.sleep(QUIET_S)
    assert len(env.events("certificate.approaching_expiration", cid)) == 1

    env.set_clock(-29 * DAY + 3600)  # the next day
    got = env.wait_event("certificate.approaching_expiration", cid, 2)
    assert [e["data"]["days_remaining"] for e in got] == [30, 29], got
    env.set_clock(-29 * DAY + 8 * 3600)
    time.sleep(QUIET_S)
    assert len(env.events("certificate.approaching_expiration", cid)) == 2

    env.set_clock(-2 * DAY)  # days missed: one event with the current count, not a backlog
    got = env.wait_event("certificate.approaching_expiration", cid, 3)
    assert got[-1]["data"]["days_remaining"] == 2, got
    time.sleep(QUIET_S)
    assert len(env.events("certificate.approaching_expiration", cid)) == 3
    for e in got:
        assert e["data"]["version_id"] == got[0]["data"]["version_id"]
