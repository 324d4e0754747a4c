"""Three certfleetd replicas on one PostgreSQL database behind a real HAProxy (issue #15,
docs/high-availability.md): real certfleetd, certfleet and certfleet-agent binaries, a real nginx
per agent, a real webhook receiver.

Agents enroll and long-poll through HAProxy, so their polls sit on different replicas; a
deployment created on one replica reaches every agent at once (LISTEN/NOTIFY wakes polls parked
on the others, well before the poll hub's 5 s recheck); the renewal scheduler (on whichever
replica holds its advisory lock) renews and the certificate is re-deployed; every event reaches
the webhook exactly once (the dispatcher runs on one replica); what one replica writes, the
others read.

All replicas share one test clock file: the clock starts 61 days back (certificates issued then
are valid in real time for the agents' and nginx's checks) and moves to the present to reach the
renewal window.
"""

import json
import os
import subprocess
import time

import pytest

from agents import AgentFactory, normalize_serial, wait_until
from conftest import (Cli, ReplicaSet, Workspace, _clean_env, _free_port, create_account,
                      create_principal, unique_name)
from receiver import Receiver, subscribe

DAY = 86400
CONVERGE_S = 120.0
AGENTS = 4
# A parked long poll is answered by the poll hub's recheck at the latest every 5 s (api/poll_hub.h):
# a wake-up that did not cross replicas arrives 0-5 s late (measured with Publish disabled: up to
# 3.9 s). Across replicas it takes a job engine tick (250 ms), the export step and one NOTIFY
# (measured: 0.2-0.4 s); the bound leaves room for a loaded machine. Three rounds, created on
# three replicas: a lost wake-up passes all of them by chance well under 1% of the time.
WAKE_BOUND_S = 2.0


class Fleet:
    """The module's replica set with its admin CLIs: `cli` through HAProxy, `on[i]` straight to
    replica i."""

    def __init__(self, rs, certfleet_bin):
        self.rs = rs
        self.bin = certfleet_bin
        self.cli = Cli(certfleet_bin, rs.front)
        self.on = [Cli(certfleet_bin, srv) for srv in rs]


@pytest.fixture(scope="module")
def fleet(certfleetd_bin, certfleet_bin, postgres):
    rs = ReplicaSet(certfleetd_bin, postgres, 3, clock_offset=-61 * DAY, balancer=True,
                    extra_args=["--pkcs8-iterations", "10000", "--scheduler-interval", "1s",
                                "--agent-cert-validity", "398d",
                                # The clock moves 61 days while they run.
                                "--admin-token-validity", "3650d"])
    try:
        rs.start()
        yield Fleet(rs, certfleet_bin)
    finally:
        rs.stop()


@pytest.fixture
def ws():
    w = Workspace("certfleet-e2e-replicas-work-")
    yield w
    w.cleanup()


def agent_polls(srv):
    """GET /v1/agent/jobs requests this replica has answered (its own /metrics)."""
    resp = srv.request("GET", "/metrics")
    assert resp.status == 200, resp
    total = 0.0
    for line in resp.body.decode().splitlines():
        if (line.startswith("certfleet_http_requests_total{")
                and 'route="/v1/agent/jobs"' in line and 'method="GET"' in line):
            total += float(line.rsplit(" ", 1)[1])
    return total


class WakeClock:
    """Measures, per agent, the time from a moment (a deployment created on one replica) to the
    agent's next "job received" log line: its logs are polled every 10 ms."""

    def __init__(self, agents):
        self.agents = agents
        self.seen = {a: a.log_text().count('"msg":"job received"') for a in agents}

    def wait(self, started, timeout=CONVERGE_S):
        latency = {}
        deadline = started + timeout
        while len(latency) < len(self.agents):
            now = time.monotonic()
            for a in self.agents:
                if a not in latency and \
                        a.log_text().count('"msg":"job received"') > self.seen[a]:
                    latency[a] = now - started
            if now > deadline:
                pytest.fail(f"not every agent got its job within {timeout}s: {latency}",
                            pytrace=False)
            time.sleep(0.01)  # bounded poll of the agents' logs
        return latency


def targets_verified(cli, dep_id, agents, generation):
    def check():
        d = cli.json("deploy", "show", dep_id)
        ts = {t["agent"]: t for t in d["targets"]}
        ok = all(a.id in ts and ts[a.id]["generation"] >= generation
                 and ts[a.id]["state"] == "verified" for a in agents)
        # The wait step settles the deployment's state within a second of the last report.
        return d if ok and d["generation"] >= generation and d["state"] != "running" else None
    return check


def test_what_one_replica_writes_the_others_read(fleet, ws):
    """An account and principal made on r1, a certificate requested on r2, read on r3 and
    listed on r1; a token revoked on r3 is refused by r1 within the token cache's second."""
    r1, r2, r3 = fleet.on
    account = create_account(r1)["id"]
    op = create_principal(r1, ws, account, "operator")
    on_r2 = Cli(fleet.bin, fleet.rs[1], op.token_path)
    on_r3 = Cli(fleet.bin, fleet.rs[2], op.token_path)
    name = unique_name("shared")
    cert = on_r2.json("cert", "request", "--name", name, "--domain", f"{name}.example.test")
    assert cert["status"] == "issued", cert
    seen = on_r3.json("cert", "show", cert["id"])
    assert seen["serial"] == cert["serial"] and seen["version"] == 1, seen
    listed = {c["id"] for c in Cli(fleet.bin, fleet.rs[0], op.token_path)
              .json("cert", "list")["items"]}
    assert cert["id"] in listed
    # The same CA behind every replica: the certificate chains to the ca.pem each one wrote.
    for srv in fleet.rs:
        with open(srv.ca_path) as f, open(fleet.rs[0].ca_path) as g:
            assert f.read() == g.read()

    token_id = r3.json("token", "list", "--account", account, "--principal", op.id)["items"][0]
    r3("token", "revoke", token_id["id"])
    revoked = time.monotonic()
    wait_until(lambda: fleet.rs[0].request("GET", "/v1/certificates", token=op.token())
               .status == 401, 10, "r1 to refuse the token revoked on r3")
    # docs/replicas-state.md: a replica caches a token's check for at most 1 s.
    assert time.monotonic() - revoked < 5


def test_a_replica_without_the_shared_kek_refuses_to_start(fleet, ws):
    """docs/high-availability.md: copy kek.key before a replica's first start. Without it the
    replica stops at once, before making a KEK of its own (which would unwrap nothing in the
    database), says to copy kek.key, and serves nothing."""
    data = ws.sub("no-kek")
    os.mkdir(data, 0o700)
    proc = subprocess.run([fleet.rs[0].binary, "--data-dir", data, "--listen",
                           f"127.0.0.1:{_free_port()}", "--store", fleet.rs.url],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60, env=_clean_env())
    assert proc.returncode != 0, proc.stdout
    assert "copy kek.key" in proc.stderr, proc.stderr
    assert not os.path.exists(os.path.join(data, "ca.pem"))
    assert not os.path.exists(os.path.join(data, "kek.key")), "a stray KEK was left behind"
    assert "certfleetd is running" not in proc.stdout


def test_agents_spread_deploy_renew_and_webhooks_once(fleet, ws):
    rs = fleet.rs
    account = create_account(fleet.cli)["id"]
    admin = create_principal(fleet.cli, ws, account, "admin")
    receiver = Receiver()
    factory = AgentFactory(rs.front, admin.cli, ws)
    try:
        hook = subscribe(fleet.cli, ws, receiver.url, ["*"], account=account)
        name = unique_name("fleet")
        cert = admin.cli.json("cert", "request", "--name", name, "--domain",
                              f"{name}.example.test", "--exportable", "--validity", "90d")
        assert cert["status"] == "issued", cert

        # Agents enroll and poll through HAProxy (leastconn): their polls spread.
        polls_before = [agent_polls(s) for s in rs]
        agents = [factory(account, {"env": "dev"}) for _ in range(AGENTS)]

        def spread():
            grown = [agent_polls(s) - b for s, b in zip(rs, polls_before)]
            return grown if sum(1 for g in grown if g > 0) >= 2 else None
        polls = wait_until(spread, 60, "agents' polls on more than one replica",
                           lambda: rs.lb.log_tail())
        print(f"agent polls per replica since the agents started: {polls}")

        # A deployment created on r1, then redeployed through r2: every agent gets its job at
        # once, whichever replica its poll is parked on and whichever replica's job engine runs
        # the deployment.
        def woken(srv, *args):
            wake = WakeClock(agents)
            started = time.monotonic()
            out = Cli(fleet.bin, srv, admin.token_path).json(*args)
            latency = wake.wait(started)
            print(f"{args[0]} {args[1]} on {srv.name} -> job received: "
                  + ", ".join(f"{t:.2f}s" for t in sorted(latency.values())))
            assert max(latency.values()) < WAKE_BOUND_S, latency
            return out

        dep = woken(rs[0], "deploy", "create", "--cert", cert["id"], "--account", account,
                    "--profile", "nginx", "--selector", "env=dev")
        done = wait_until(targets_verified(admin.cli, dep["id"], agents, 1), CONVERGE_S,
                          "every target verified", rs.log_tails)
        assert done["state"] == "succeeded", done
        woken(rs[1], "deploy", "redeploy", dep["id"])
        done = wait_until(targets_verified(admin.cli, dep["id"], agents, 2), CONVERGE_S,
                          "every target verified at generation 2", rs.log_tails)
        assert done["state"] == "succeeded", done
        serial = normalize_serial(cert["serial"])
        for a in agents:
            assert a.nginx.served_serial() == serial

        # The renewal: the scheduler's replica renews, every replica's redeployer may pick up
        # the event, the agents install version 2 once.
        leader = rs.leader("renewal-scheduler")
        assert leader is not None, rs.log_tails()
        rs.set_clock(0)  # 61 days later: 29 of 90 days left, inside the last third

        def renewed():
            c = admin.cli.json("cert", "show", cert["id"])
            return c if c["version"] >= 2 else None
        v2 = wait_until(renewed, CONVERGE_S, "the renewal", rs.log_tails)
        new_serial = normalize_serial(v2["serial"])
        assert new_serial != serial
        wait_until(targets_verified(admin.cli, dep["id"], agents, 3), CONVERGE_S,
                   "every target verified at generation 3", rs.log_tails)
        for a in agents:
            wait_until(lambda: a.nginx.served_serial() == new_serial, CONVERGE_S,
                       f"{a.base} serving the renewed certificate")

        # A third wake-up, from the third replica.
        woken(rs[2], "deploy", "redeploy", dep["id"])
        final = wait_until(targets_verified(admin.cli, dep["id"], agents, 4), CONVERGE_S,
                           "every target verified at generation 4", rs.log_tails)
        assert final["state"] == "succeeded", final

        # The renewal was planned on the replica holding the scheduler's lock, and only there.
        enqueued = {srv.name: srv.log_bytes().count(b'"msg":"renewals enqueued"') for srv in rs}
        assert enqueued[leader.name] >= 1, enqueued
        assert sum(enqueued.values()) == enqueued[leader.name], enqueued
        # One renewal, once: two versions, one certificate.renewed, one renew job.
        assert admin.cli.json("cert", "show", cert["id"])["version"] == 2
        renewed_events = rs.psql(
            f"SELECT count(*) FROM events WHERE type = 'certificate.renewed' "
            f"AND subject = '{cert['id']}'").strip()
        assert renewed_events == "1", renewed_events
        renew_jobs = rs.psql(
            "SELECT state FROM jobs WHERE type = 'certificate.renew' "
            f"AND input_json LIKE '%{cert['id']}%'").split()
        assert renew_jobs == ["succeeded"], renew_jobs
        # Each agent installed each generation once.
        for a in agents:
            jobs = [json.loads(line) for line in a.log_text().splitlines()
                    if '"msg":"job received"' in line]
            assert len(jobs) == 4 and len({j["seq"] for j in jobs}) == 4, jobs

        # Webhooks: every event of the account, delivered exactly once.
        rows = rs.psql(f"SELECT id, type FROM events WHERE account_id = '{account}' "
                       "ORDER BY seq").split()
        events = dict(r.split("|") for r in rows)
        types = sorted(events.values())
        assert types.count("deployment.succeeded") == 4, types
        assert types.count("certificate.renewed") == 1, types

        def all_delivered():
            got = {e["id"] for e in receiver.events()}
            return got >= set(events) or None
        wait_until(all_delivered, CONVERGE_S, "every event at the receiver", rs.log_tails)
        counts = {}
        for e in receiver.events():
            counts[e["id"]] = counts.get(e["id"], 0) + 1
        doubled = {i: n for i, n in counts.items() if n != 1}
        assert not doubled, f"delivered more than once: {doubled}"
        log = rs.psql("SELECT event_id, attempt, status FROM webhook_deliveries "
                      f"WHERE subscription_id = '{hook['id']}'").split()
        by_event = {}
        for row in log:
            event_id, attempt, status = row.split("|")
            by_event.setdefault(event_id, []).append((attempt, status))
        for event_id in events:
            assert by_event.get(event_id) == [("1", "delivered")], \
                (event_id, by_event.get(event_id))
    finally:
        receiver.close()
        failures = factory.teardown()
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)
