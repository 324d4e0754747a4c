"""A replica killed in the middle of its work (issue #15, docs/high-availability.md "What fails
over"): real certfleetd replicas on one PostgreSQL database, real agents with nginx behind a
real HAProxy, a real webhook receiver, and a real Pebble with BIND9 for ACME.

- SIGKILL the replica whose job engine is exporting a deployment: once the dead replica's job
  lease (30 s) has run out, another replica runs the deployment to the end; every target is
  installed and verified once, the key is exported once, and every event reaches the webhook.
- SIGKILL a replica while every agent is installing (held at its reload): the deployment ends on
  the others, every target installed and verified once.
- SIGKILL the replica holding the renewal scheduler's advisory lock: another replica takes the
  lock at once (its session died with it), and the next wave of renewals happens there, with no
  renewal lost and none doubled.
- SIGKILL the replica running an ACME issuance, right after it recorded the order
  (failpoint acme.order_recorded): another replica takes the job over once the lease is over
  (its test clock moved past it) and finishes the same order: one certificate version.
"""

import json
import os
import signal
import time

import pytest

import acme_servers
from agents import AgentFactory, normalize_serial, wait_until
from conftest import Cli, Workspace, create_account, create_principal, unique_name
from receiver import Receiver, subscribe

DAY = 86400
CONVERGE_S = 120.0
JOB_LEASE_S = 30  # jobs::EngineOptions::lease
# PBKDF2 iterations of deployment exports: about a second per export on the test machine, the
# window in which the replica exporting a deployment is killed.
SLOW_PBKDF2 = "1000000"


@pytest.fixture
def ws():
    w = Workspace("certfleet-e2e-failover-work-")
    yield w
    w.cleanup()


def sql_list(text):
    return [line for line in text.splitlines() if line]


def sql_quote(value):
    assert "'" not in value
    return f"'{value}'"


def job_rows(rs, job_type, needle):
    """(state, step, lease_owner) of the jobs of `job_type` whose input names `needle`."""
    rows = rs.psql("SELECT state, step, lease_owner FROM jobs WHERE type = "
                   f"{sql_quote(job_type)} AND input_json LIKE {sql_quote('%' + needle + '%')}")
    return [tuple(r.split("|")) for r in sql_list(rows)]


def ended_jobs(rs, job_type, needle):
    """The states of the jobs job_rows() finds, once none is pending or running: a job's outcome
    commits after the work it did, so what the API shows can be a moment ahead of the job row."""
    def ended():
        states = [st for st, _, _ in job_rows(rs, job_type, needle)]
        return states if states and not {"pending", "running"} & set(states) else None
    return wait_until(ended, JOB_LEASE_S, f"the {job_type} job of {needle} to end", rs.log_tails)


def log_count(srv, *needles):
    """Lines of `srv`'s log that contain every one of `needles`."""
    return sum(1 for line in srv.log_bytes().decode(errors="replace").splitlines()
               if all(n in line for n in needles))


def deliveries_complete(receiver, rs, account):
    """Waits until every event of `account` in the outbox has reached the receiver; returns
    (event ids in seq order, {id: times received})."""
    def check():
        ids = sql_list(rs.psql(f"SELECT id FROM events WHERE account_id = {sql_quote(account)} "
                               "ORDER BY seq"))
        got = {}
        for e in receiver.events():
            got[e["id"]] = got.get(e["id"], 0) + 1
        return (ids, got) if set(ids) <= set(got) else None
    return wait_until(check, CONVERGE_S, "every event at the webhook receiver",
                      rs.log_tails)


# --- a deployment -----------------------------------------------------------------------------

def test_sigkill_the_replica_exporting_a_deployment(replicas, certfleet_bin, ws):
    rs = replicas(3, balancer=True,
                  extra_args=["--pkcs8-iterations", SLOW_PBKDF2, "--agent-cert-validity", "398d"])
    cli = Cli(certfleet_bin, rs.front)
    account = create_account(cli)["id"]
    admin = create_principal(cli, ws, account, "admin")
    receiver = Receiver()
    factory = AgentFactory(rs.front, admin.cli, ws)
    try:
        subscribe(cli, ws, receiver.url, ["*"], account=account)
        name = unique_name("fo")
        cert = admin.cli.json("cert", "request", "--name", name, "--domain",
                              f"{name}.example.test", "--exportable")
        agents = [factory(account, {"env": "dev"}) for _ in range(3)]
        dispatcher = rs.leader("event-dispatcher")

        dep = admin.cli.json("deploy", "create", "--cert", cert["id"], "--account", account,
                             "--profile", "nginx", "--selector", "env=dev")

        def exporting():
            for state, step, owner in job_rows(rs, "deployment.run", dep["id"]):
                if state == "running" and step in ("start", "export") and owner:
                    return rs.by_owner(owner)
            return None
        victim = wait_until(exporting, 60, "a replica exporting the deployment",
                            rs.log_tails)
        assert victim.kill() == -signal.SIGKILL
        killed_at = time.monotonic()
        print(f"killed {victim.name} while it exported {dep['id']}")

        def succeeded():
            d = admin.cli.json("deploy", "show", dep["id"])
            return d if d["state"] in ("succeeded", "failed") else None
        done = wait_until(succeeded, JOB_LEASE_S + CONVERGE_S, "the deployment to finish",
                          rs.log_tails)
        took = time.monotonic() - killed_at
        print(f"the deployment finished {took:.1f}s after the kill")
        assert done["state"] == "succeeded", done
        assert done["generation"] == 1, done
        by_agent = {t["agent"]: t for t in done["targets"]}
        assert set(by_agent) == {a.id for a in agents}, by_agent
        serial = normalize_serial(cert["serial"])
        for a in agents:
            t = by_agent[a.id]
            assert t["state"] == "verified" and t["generation"] == 1, t
            assert a.nginx.served_serial() == serial
            # Installed once: one job delivered to this agent, one completed.
            received = [json.loads(line) for line in a.log_text().splitlines()
                        if '"msg":"job received"' in line]
            assert len(received) == 1 and received[0]["deployment_id"] == dep["id"], received
            assert a.log_text().count('"msg":"job completed"') == 1

        # The export ran to its end once, on a replica that lived (the dead one never logged
        # it), and left one secret version and one export record.
        exported = [log_count(s, '"msg":"deployment exported"', dep["id"]) for s in rs]
        assert sum(exported) == 1 and log_count(victim, "deployment exported") == 0, exported
        assert done["secret_id"], done
        assert sql_list(rs.psql(f"SELECT secret_version FROM deployments WHERE id = "
                                f"{sql_quote(dep['id'])}")) == ["1"]
        assert sql_list(rs.psql("SELECT count(*) FROM exports WHERE secret_id = "
                                f"{sql_quote(done['secret_id'])}")) == ["1"]
        # The deployment reads succeeded as soon as the last target reports; its job sees that at
        # its next wait step (about a second later) and only then ends. One job, ending once.
        assert ended_jobs(rs, "deployment.run", dep["id"]) == ["succeeded"]

        # No event lost: every outbox event of the account reached the webhook, the
        # dispatcher's cursor is past them, one deployment.succeeded.
        ids, got = deliveries_complete(receiver, rs, account)
        types = sql_list(rs.psql(f"SELECT type FROM events WHERE subject = "
                                 f"{sql_quote(dep['id'])} ORDER BY seq"))
        assert types.count("deployment.succeeded") == 1, types
        cursor = int(sql_list(rs.psql("SELECT value FROM settings WHERE key = "
                                      "'events.dispatch_seq'"))[0])
        top = int(sql_list(rs.psql(f"SELECT max(seq) FROM events WHERE account_id = "
                                   f"{sql_quote(account)}"))[0])
        assert cursor >= top, (cursor, top)
        # At least once by design; more than once only if the dead replica was delivering.
        doubled = {i: n for i, n in got.items() if n > 1}
        if dispatcher is not victim:
            assert not doubled, doubled
    finally:
        receiver.close()
        failures = factory.teardown()
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


def agent_requests(srv, route):
    """Requests to `route` (a route pattern) this replica has answered (its /metrics)."""
    resp = srv.request("GET", "/metrics")
    assert resp.status == 200, resp
    total = 0.0
    for line in resp.body.decode().splitlines():
        if line.startswith("certfleet_http_requests_total{") and f'route="{route}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_sigkill_a_replica_while_agents_install(replicas, certfleet_bin, ws):
    """Every agent holds its install at the reload (its profile's reload waits for a gate file
    the test creates); a replica that served bundles is killed; the gate opens: the agents'
    reports reach the replicas that live (HAProxy redispatches), the deployment settles there,
    and each target is installed and verified once."""
    rs = replicas(3, balancer=True,
                  extra_args=["--pkcs8-iterations", "10000", "--agent-cert-validity", "398d"])
    cli = Cli(certfleet_bin, rs.front)
    account = create_account(cli)["id"]
    admin = create_principal(cli, ws, account, "admin")
    factory = AgentFactory(rs.front, admin.cli, ws)
    gate = ws.sub("gate")
    # The reload waits (bounded by reload_timeout) until the gate exists, after leaving a mark
    # that says the install got that far; then it reloads nginx as usual.
    hold = 'touch "$0"; gate=$1; shift; while [ ! -e "$gate" ]; do sleep 0.05; done; exec "$@"'
    try:
        name = unique_name("inst")
        cert = admin.cli.json("cert", "request", "--name", name, "--domain",
                              f"{name}.example.test", "--exportable")
        agents = []
        for _ in range(3):
            a = factory(account, {"env": "dev"}, start=False)
            reload = a.profiles["nginx"]["reload"]
            a.profiles["nginx"]["reload"] = ["/bin/sh", "-c", hold, os.path.join(a.base, "reloading"),
                                             gate, *reload]
            a.profiles["nginx"]["reload_timeout"] = "90s"
            a.start()
            agents.append(a)
        dep = admin.cli.json("deploy", "create", "--cert", cert["id"], "--account", account,
                             "--profile", "nginx", "--selector", "env=dev")
        wait_until(lambda: all(os.path.exists(os.path.join(a.base, "reloading"))
                               for a in agents), 60, "every agent held at its reload",
                   lambda: "\n".join(a.log_tail(10) for a in agents))
        bundles = {s.name: agent_requests(s, "/v1/agent/jobs/{id}/bundle") for s in rs}
        victim = max(rs, key=lambda s: bundles[s.name])
        assert victim.kill() == -signal.SIGKILL
        print(f"bundles served {bundles}; killed {victim.name} while the agents installed")
        with open(gate, "w"):
            pass

        def settled():
            d = admin.cli.json("deploy", "show", dep["id"])
            return d if d["state"] != "running" else None
        done = wait_until(settled, JOB_LEASE_S + CONVERGE_S, "the deployment to finish",
                          rs.log_tails)
        assert done["state"] == "succeeded", done
        serial = normalize_serial(cert["serial"])
        for a in agents:
            t = {t["agent"]: t for t in done["targets"]}[a.id]
            assert t["state"] == "verified" and t["generation"] == 1, t
            assert a.nginx.served_serial() == serial
            text = a.log_text()
            # Installed once. A report lost with the replica is sent again, from the agent's
            # saved result, when the job is delivered again: never a second install.
            assert text.count('"msg":"job completed"') == 1, a.log_tail(30)
            assert "refusing a replayed job" not in text, a.log_tail(30)
            print(f"{a.id}: {text.count('backing off')} retries, "
                  f"{text.count('re-reporting a completed job')} re-reports")
        assert sql_list(rs.psql("SELECT count(*) FROM exports WHERE secret_id = "
                                f"{sql_quote(done['secret_id'])}")) == ["1"]
    finally:
        if not os.path.exists(gate):
            with open(gate, "w"):
                pass
        failures = factory.teardown()
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


# --- the renewal scheduler --------------------------------------------------------------------

def test_sigkill_the_scheduler_leader(replicas, certfleet_bin, ws):
    """Two waves of renewals, 30 days apart on the shared test clock; the scheduler's replica is
    killed between them."""
    rs = replicas(3, clock_offset=-61 * DAY,
                  extra_args=["--scheduler-interval", "1s", "--admin-token-validity", "3650d"])

    def cli_on(srv):
        return Cli(certfleet_bin, srv)

    account = create_account(cli_on(rs[0]))["id"]
    op = create_principal(cli_on(rs[0]), ws, account, "operator")
    # A token that outlives the clock's moves (API tokens expire after 90 days by default).
    token = ws.sub("tokens", "operator-long.token")
    cli_on(rs[0])("token", "create", "--principal", op.id, "--account", account, "--expires",
                  "3650d", "--out", token)

    def as_op(srv):
        return Cli(certfleet_bin, srv, token)

    def request(n):
        out = []
        for _ in range(n):
            name = unique_name("wave")
            c = as_op(rs[0]).json("cert", "request", "--name", name, "--domain",
                               f"{name}.example.test", "--validity", "90d")
            assert c["status"] == "issued", c
            out.append(c["id"])
        return out

    def wait_version(srv, ids, version):
        def check():
            vs = {i: as_op(srv).json("cert", "show", i)["version"] for i in ids}
            return vs if all(v >= version for v in vs.values()) else None
        return wait_until(check, CONVERGE_S, f"{ids} at version {version}", rs.log_tails)

    wave_a = request(3)  # issued 61 days ago: due today
    rs.set_clock(-31 * DAY)
    wave_b = request(3)  # issued 31 days ago: due in 30 days

    first = wait_until(lambda: rs.leader("renewal-scheduler"), 30, "a scheduler leader",
                       rs.log_tails)
    rs.set_clock(0)
    wait_version(first, wave_a, 2)
    assert log_count(first, '"msg":"renewals enqueued"') >= 1

    assert first.kill() == -signal.SIGKILL
    killed_at = time.monotonic()
    second = wait_until(lambda: rs.leader("renewal-scheduler"), 60,
                        "another replica to take the scheduler's lock", rs.log_tails)
    took = time.monotonic() - killed_at
    print(f"{second.name} took the scheduler's lock {took:.2f}s after {first.name} died")
    assert second is not first
    # The advisory lock goes with the dead replica's session: far inside the 120 s lease a
    # lease row would need (renewal_scheduler.h).
    assert took < 30
    assert log_count(second, '"msg":"leader lock taken"', "renewal-scheduler") >= 1

    rs.set_clock(30 * DAY)  # wave B: 29 of 90 days left; wave A's new versions: 60
    wait_version(second, wave_b, 2)

    # None lost, none doubled: every certificate has exactly two versions, one renewal event,
    # one renew job that succeeded.
    for cert_id in wave_a + wave_b:
        assert as_op(second).json("cert", "show", cert_id)["version"] == 2
        renewed = sql_list(rs.psql("SELECT count(*) FROM events WHERE type = "
                                   f"'certificate.renewed' AND subject = {sql_quote(cert_id)}"))
        assert renewed == ["1"], (cert_id, renewed)
        jobs = ended_jobs(rs, "certificate.renew", cert_id)
        assert jobs == ["succeeded"], (cert_id, jobs)
        versions = sql_list(rs.psql("SELECT count(*) FROM certificate_versions WHERE "
                                    f"certificate_id = {sql_quote(cert_id)}"))
        assert versions == ["2"], (cert_id, versions)
    assert log_count(second, '"msg":"renewals enqueued"') >= 1


# --- an ACME issuance -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bind9():
    yield from acme_servers.running_bind9("certfleet-e2e-failover-bind-")


@pytest.fixture(scope="module")
def pebble(bind9):
    yield from acme_servers.running_pebble("certfleet-e2e-failover-pebble-", bind9)


def test_sigkill_the_replica_running_an_acme_issuance(replicas, certfleet_bin, pebble, bind9,
                                                      ws):
    """r1 dies right after recording its ACME order. r2 runs all along, its test clock put ten
    minutes behind, so the issue job r1 enqueued is not due for it and r1 is the one to claim
    it; moving r2's clock past the dead replica's lease lets r2 take the job over at once
    instead of after 30 s. r2 continues the same order: one certificate version."""
    def setup(i, srv):
        if i == 0:
            srv.extra_env = {"CERTFLEET_FAILPOINT": "acme.order_recorded"}
        srv.use_test_clock(0, os.path.join(ws.path, f"clock-r{i + 1}"))

    rs = replicas(2, setup=setup)
    r1, r2 = rs[0], rs[1]
    # Once started (its listener certificate cannot start before the CA r1 just made).
    r2.set_clock(-600)
    cli = Cli(certfleet_bin, r1)
    account = create_account(cli)["id"]
    admin = create_principal(cli, ws, account, "admin")
    admin.cli.json("solver", "create", "rfc2136", "--name", "bind", "--account", account,
                   "--server", f"127.0.0.1:{bind9.port}", "--tsig-key-file", bind9.tsig_key_path)
    trust = ws.sub("pebble-listener-ca.pem")
    with open(pebble.ca_file) as src, open(trust, "w") as dst:
        dst.write(src.read())
    admin.cli.json("issuer", "create", "acme", "--name", "pebble", "--account", account,
                   "--directory", pebble.directory_url, "--trust", trust, "--contact",
                   "admin@example.test", "--solver", "bind")
    domain = f"{unique_name('acmefo')}.example.test"
    cert = admin.cli.json("cert", "request", "--name", unique_name("acme"), "--issuer", "pebble",
                          "--domain", domain, "--exportable")
    assert cert["status"] == "pending", cert

    try:
        rc = r1.proc.wait(timeout=60)
    except Exception:  # noqa: BLE001 (reported below)
        rc = None
    assert rc == -signal.SIGKILL, f"r1 did not die at the failpoint:\n{rs.log_tails()}"
    r1.proc = None
    assert b'"failpoint":"acme.order_recorded"' in r1.log_bytes()
    orders = sql_list(rs.psql("SELECT order_url FROM acme_orders WHERE certificate_id = "
                              f"{sql_quote(cert['id'])}"))
    assert len(orders) == 1, orders
    [job] = job_rows(rs, "certificate.issue", cert["id"])
    assert job[0] == "running" and rs.by_owner(job[2]) is None, job  # r1's, and r1 is dead

    r2.set_clock(120)  # past the dead replica's 30 s lease, as r2 sees it
    on_r2 = Cli(certfleet_bin, r2, admin.token_path)

    def finished():
        c = on_r2.json("cert", "show", cert["id"])
        return c if c["status"] in ("issued", "failed") else None
    done = wait_until(finished, CONVERGE_S, "the issuance to finish on r2", rs.log_tails)
    assert done["status"] == "issued" and done["version"] == 1, done
    # The same order, finished once: one order row with the URL r1 recorded, one version, one
    # certificate.issued event, one issue job that succeeded.
    assert sql_list(rs.psql("SELECT order_url FROM acme_orders WHERE certificate_id = "
                            f"{sql_quote(cert['id'])}")) == orders
    assert sql_list(rs.psql("SELECT count(*) FROM certificate_versions WHERE certificate_id = "
                            f"{sql_quote(cert['id'])}")) == ["1"]
    assert sql_list(rs.psql("SELECT count(*) FROM events WHERE type = 'certificate.issued' "
                            f"AND subject = {sql_quote(cert['id'])}")) == ["1"]
    assert ended_jobs(rs, "certificate.issue", cert["id"]) == ["succeeded"]
