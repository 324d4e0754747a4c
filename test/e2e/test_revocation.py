"""Revocation end to end (issue #13; docs/agents.md "Revocation", docs/api.md): real certfleetd,
certfleet and certfleet-agent binaries, and real nginx instances on loopback (agents.py).

Every credential can be revoked, and revocation takes effect on the next request:
  - `certfleet agent revoke`: the agent's next request is refused, a long poll it has parked ends
    at once with 401 (measured: well under the poll's wait), its pending targets are cancelled
    and it gets nothing from later deployments;
  - `certfleet token revoke`, `certfleet principal disable` / `enable`;
  - `certfleet agent token revoke`: an unused enrollment token no longer enrolls;
  - `certfleetd --rotate-admin-token`: the bootstrap token is replaced.
And the credentials that must survive: every certificate issued to an active agent stays valid
(renewal responses lost twice), a lost enrollment response is retried by the same key. Installs
remove the previous private key unless the profile keeps it; revoking a grant stops the
assignment of that account's agents.

Nothing here sleeps to let time pass: waits poll a condition with a bound, and the renewal test
moves certfleetd's test clock.
"""

import calendar
import json
import os
import stat
import subprocess
import threading
import time

import pytest

from agents import AgentFactory, file_serial, make_csr, normalize_serial, wait_until
from conftest import (Cli, Server, Workspace, assert_cli_denied, assert_problem, create_account,
                      create_principal, serve, unique_name)

DAY = 86400
CONVERGE_S = 120.0
PARKED_WAIT_S = 60  # the long poll's wait; a revoked agent's poll must end long before
PROMPT_S = 3.0  # "at once": the bound measured for a parked poll to end after the revocation


# --- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(certfleetd_bin):
    """The module's certfleetd: cheap PBKDF2 for exports, debug logs (the tests wait for the
    "long poll parked" line before revoking an agent)."""
    yield from serve(certfleetd_bin, "certfleet-e2e-revocation-",
                     ["--pkcs8-iterations", "10000", "--log-level", "debug"])


@pytest.fixture
def agents(server, cli, workdir):
    factory = AgentFactory(server, cli, workdir)
    yield factory
    failures = factory.teardown()
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


@pytest.fixture
def tenant(make_account, make_principal):
    account = make_account()
    return account, make_principal(account, "admin")


@pytest.fixture
def own_server(certfleetd_bin, certfleet_bin):
    """make(extra_args, clock_offset=None) starts a server of the test's own (for what would
    disturb the module's server: its clock, its bootstrap token); all stopped at teardown."""
    made = []

    def make(extra_args=(), clock_offset=None):
        ws = Workspace("certfleet-e2e-revocation-own-")
        srv = Server(certfleetd_bin, ws.sub("data"))
        os.mkdir(srv.data_dir, 0o700)
        srv.extra_args = ["--pkcs8-iterations", "10000", *extra_args]
        if clock_offset is not None:
            srv.use_test_clock(clock_offset)
        made.append((srv, ws))
        srv.start()
        return srv, Cli(certfleet_bin, srv), ws

    yield make
    for srv, ws in made:
        try:
            srv.stop()
        finally:
            ws.cleanup()


# --- helpers ---------------------------------------------------------------------------------

def request_cert(cli):
    name = unique_name("web")
    cert = cli.json("cert", "request", "--name", name, "--domain", f"{name}.example.test",
                    "--exportable")
    assert cert["status"] == "issued", cert
    return cert


def deploy(cli, cert_id, account, profile="nginx", wait=False):
    args = ["deploy", "create", "--cert", cert_id, "--account", account, "--profile", profile,
            "--selector", "env=dev"]
    if wait:
        args += ["--wait", "--timeout", "3m"]
    return cli.json(*args)


def targets_by_agent(dep):
    return {t["agent"]: t for t in dep["targets"]}


def wait_deployment(cli, dep_id, predicate, what):
    def check():
        dep = cli.json("deploy", "show", dep_id)
        return dep if predicate(dep) else None
    return wait_until(check, CONVERGE_S, what,
                      lambda: str(cli.json("deploy", "show", dep_id)))


def poll_status(agent, cert_path=None):
    return agent.request("GET", "/v1/agent/jobs?wait=0", cert_path=cert_path).status


def renew_csr(agent, name):
    """A CSR for the agent's own key (the server only looks at the CSR's key and signature)."""
    path = os.path.join(agent.base, f"{name}.csr")
    subprocess.run(["openssl", "req", "-new", "-key", agent.key_path, "-subj", "/CN=ignored",
                    "-out", path], check=True, capture_output=True)
    with open(path) as f:
        return f.read()


def parked_count(server, agent_id):
    needle = b'"long poll parked"'
    return sum(1 for line in server.log_bytes().splitlines()
               if needle in line and agent_id.encode() in line)


# --- agents ----------------------------------------------------------------------------------

def test_agent_revoke_cancels_pending_targets_and_refuses_the_agent(server, tenant, agents):
    """A revoked agent: its pending target is cancelled (the deployment finishes on the other
    agent without waiting for it), its next request is refused, and a new deployment does not
    reach it."""
    account, admin = tenant
    good = agents(account, {"env": "dev"})
    bad = agents(account, {"env": "dev"})
    assert bad.stop() == 0  # offline: its target stays pending
    cert = request_cert(admin.cli)
    dep = deploy(admin.cli, cert["id"], account)
    dep = wait_deployment(
        admin.cli, dep["id"],
        lambda d: targets_by_agent(d).get(good.id, {}).get("state") == "verified"
        and targets_by_agent(d).get(bad.id, {}).get("state") == "pending",
        "the online agent to install and the offline one to stay pending")
    assert dep["state"] == "running", dep
    assert poll_status(bad) == 200

    revoked = admin.cli.json("agent", "revoke", bad.id)
    assert revoked["id"] == bad.id and revoked["status"] == "revoked", revoked
    assert admin.cli.json("agent", "show", bad.id)["status"] == "revoked"
    # Next request: refused. The deployment no longer waits for it.
    doc = assert_problem(bad.request("GET", "/v1/agent/jobs?wait=0"), 401)
    assert "revoked" in doc["detail"], doc
    dep = wait_deployment(admin.cli, dep["id"], lambda d: d["state"] != "running",
                          "the deployment to finish without the revoked agent")
    assert dep["state"] == "succeeded", dep
    t = targets_by_agent(dep)[bad.id]
    assert t["state"] == "cancelled" and "revoked" in t["reason"], t
    # Human output too; revoking twice is fine.
    out = admin.cli("agent", "revoke", bad.id).stdout
    assert bad.id in out and "revoked" in out, out

    # A new deployment reaches the active agent only.
    cert2 = request_cert(admin.cli)
    dep2 = deploy(admin.cli, cert2["id"], account, wait=True)
    assert dep2["state"] == "succeeded", dep2
    assert set(targets_by_agent(dep2)) == {good.id}, dep2
    assert_problem(bad.request("GET", "/v1/agent/jobs?wait=0"), 401)


def test_agent_revoke_ends_a_parked_long_poll_at_once(server, tenant, agents):
    """A long poll parked before the revocation (wait=60 s, no work) ends with 401 within a
    couple of seconds of `certfleet agent revoke`, not at the end of its wait."""
    account, admin = tenant
    agent = agents(account, {"env": "dev"})
    assert agent.stop() == 0  # the test holds the agent's one long poll itself
    before = parked_count(server, agent.id)
    result = {}

    def poll():
        t0 = time.monotonic()
        try:
            result["response"] = agent.request("GET", f"/v1/agent/jobs?wait={PARKED_WAIT_S}",
                                               timeout=PARKED_WAIT_S + 30)
        except Exception as e:  # noqa: BLE001 - reported below
            result["error"] = e
        result["ended"] = time.monotonic()
        result["started"] = t0

    worker = threading.Thread(target=poll, daemon=True)
    worker.start()
    wait_until(lambda: parked_count(server, agent.id) > before, 30, "the poll to be parked",
               lambda: server.log_tail())
    revoked_at = time.monotonic()
    admin.cli("agent", "revoke", agent.id)
    worker.join(PARKED_WAIT_S + 30)
    assert not worker.is_alive()
    assert "error" not in result, result
    elapsed = result["ended"] - revoked_at
    print(f"parked long poll ended {elapsed:.3f} s after `agent revoke` returned or was called "
          f"(wait was {PARKED_WAIT_S} s)")
    assert elapsed < PROMPT_S, f"the parked poll ended {elapsed:.1f} s after the revocation"
    doc = assert_problem(result["response"], 401)
    assert "revoked" in doc["detail"], doc


def test_enrollment_token_revoke(server, cli, tenant, workdir):
    """An unused enrollment token, once revoked, enrolls no agent (401); another account's admin
    cannot revoke it (404, like an unknown id)."""
    account, admin = tenant
    other_admin = create_principal(cli, workdir, create_account(cli)["id"], "admin")
    token = admin.cli.json("agent", "token", "create", "--tag", "env=dev")
    assert_cli_denied(other_admin.cli("agent", "token", "revoke", token["id"], check=False), 404)
    revoked = admin.cli.json("agent", "token", "revoke", token["id"])
    assert revoked["id"] == token["id"] and revoked["revoked_at"], revoked
    listed = {t["id"]: t for t in admin.cli.json("agent", "token", "list")["items"]}
    assert listed[token["id"]]["revoked_at"], listed
    resp = server.request("POST", "/v1/agent/enroll",
                          {"token": token["token"], "csr": make_csr(workdir.path, "revoked"),
                           "hostname": "h"}, token=None)
    assert_problem(resp, 401)
    assert not admin.cli.json("agent", "list")["items"]


def test_lost_enrollment_response_is_retried_by_the_same_key(server, tenant, workdir):
    """The same CSR key retries a used token (the first response was lost) and gets the same
    agent; another key gets 409 and the reuse alert."""
    account, admin = tenant
    token = admin.cli.json("agent", "token", "create", "--tag", "env=dev")["token"]
    csr = make_csr(workdir.path, "lost")
    first = server.request("POST", "/v1/agent/enroll",
                           {"token": token, "csr": csr, "hostname": "h"}, token=None)
    assert first.status == 201, first
    again = server.request("POST", "/v1/agent/enroll",
                           {"token": token, "csr": csr, "hostname": "h"}, token=None)
    assert again.status == 201, again
    assert again.json()["agent_id"] == first.json()["agent_id"]
    assert again.json()["certificate"] != first.json()["certificate"]
    assert len(admin.cli.json("agent", "list")["items"]) == 1
    other = server.request("POST", "/v1/agent/enroll",
                           {"token": token, "csr": make_csr(workdir.path, "thief"),
                            "hostname": "h"}, token=None)
    assert_problem(other, 409)


def test_renewal_only_in_last_third_and_lost_renewals_do_not_lock_out(own_server, workdir,
                                                                      certfleet_bin):
    """Renewal before the last third is refused (409, rule agent.renew_early). Two renewals whose
    responses are dropped: the agent's original certificate (neither the current nor the
    previous serial any more) still authenticates; after `agent revoke` none does."""
    srv, cli, ws = own_server(clock_offset=0)
    account = create_account(cli)["id"]
    admin = create_principal(cli, ws, account, "admin")
    factory = AgentFactory(srv, admin.cli, ws)
    try:
        agent = factory(account, {"env": "dev"}, nginx=False)
        assert agent.stop() == 0  # its own clock would not renew; the test does
        doc = assert_problem(agent.request("POST", "/v1/agent/renew",
                                           {"csr": renew_csr(agent, "early")}), 409)
        assert "agent.renew_early" in doc["detail"], doc
        srv.set_clock(21 * DAY)  # 9 of 30 days left
        issued = []
        for n in range(2):  # the responses are "dropped": the agent never stores them
            resp = agent.request("POST", "/v1/agent/renew", {"csr": renew_csr(agent, f"r{n}")})
            assert resp.status == 200, resp
            issued.append(resp.json()["certificate"])
        assert poll_status(agent) == 200
        # The last one issued is the agent's current certificate (CN = the agent's id).
        last = os.path.join(agent.base, "last.crt")
        with open(last, "w") as f:
            f.write(issued[-1])
        subject = subprocess.run(["openssl", "x509", "-in", last, "-noout", "-subject"],
                                 check=True, capture_output=True, text=True).stdout
        assert agent.id.split("_", 1)[1].lower() in subject.lower(), subject
        assert normalize_serial(admin.cli.json("agent", "show", agent.id)["cert_serial"]) == \
            file_serial(last)
        # (The two new certificates start at the server's moved clock, 21 days ahead of the
        # real time TLS checks, so they cannot be presented here; lifecycle/revocation_test.cc
        # shows each of them authenticates too.)
        admin.cli("agent", "revoke", agent.id)
        assert poll_status(agent) == 401
    finally:
        factory.teardown()


# --- tokens and principals -------------------------------------------------------------------

def test_token_revoke_and_principal_disable(server, cli, workdir, tenant):
    """`token revoke`: that token answers 401, the principal's others still work. `principal
    disable`: every token of the principal answers 401; `enable` restores the unrevoked ones.
    A principal cannot disable itself; another account's admin sees 404."""
    account, admin = tenant
    ops = create_principal(admin.cli, workdir, account, "operator")
    second = admin.cli.json("token", "create", "--principal", ops.id, "--account", account)
    t1, t2 = ops.token(), second["token"]

    def status(token):
        return server.request("GET", "/v1/certificates", token=token).status

    assert status(t1) == 200 and status(t2) == 200
    listed = admin.cli.json("token", "list", "--principal", ops.name)["items"]
    assert {t["id"] for t in listed} >= {second["id"]} and len(listed) == 2, listed
    assert all("token" not in t and "hash" not in json.dumps(t) for t in listed), listed
    human = admin.cli("token", "list", "--account", account).stdout
    assert second["id"] in human, human

    other_admin = create_principal(cli, workdir, create_account(cli)["id"], "admin")
    assert_cli_denied(other_admin.cli("token", "revoke", second["id"], check=False), 404)
    assert_cli_denied(ops.cli("token", "revoke", second["id"], check=False), 403)
    revoked = admin.cli.json("token", "revoke", second["id"])
    assert revoked["revoked"] is True, revoked
    assert status(t2) == 401 and status(t1) == 200

    # Disable: all of its tokens, at once. Not oneself; not from another account.
    assert_cli_denied(admin.cli("principal", "disable", admin.name, check=False), 403,
                      "principal.self_disable")
    assert_cli_denied(other_admin.cli("principal", "disable", ops.name, "--account", account,
                                      check=False), 404)
    p = admin.cli.json("principal", "disable", ops.name)
    assert p["disabled"] is True, p
    assert status(t1) == 401
    doc = assert_problem(server.request("GET", "/v1/certificates", token=t1), 401)
    assert "disabled" in doc["detail"], doc
    p = admin.cli.json("principal", "enable", ops.name)
    assert p["disabled"] is False, p
    assert status(t1) == 200 and status(t2) == 401


def test_rotate_admin_token(own_server):
    """The bootstrap token expires (--admin-token-validity); --rotate-admin-token revokes it and
    writes a fresh admin.token, 0600, while the server runs."""
    srv, cli, _ = own_server(["--admin-token-validity", "2d"])
    old = srv.token()
    assert stat.S_IMODE(os.stat(srv.token_path).st_mode) == 0o600
    mine = srv.request("GET", "/v1/tokens?account=default&principal=admin")
    assert mine.status == 200, mine
    (first,) = mine.json()["items"]
    created = time.time()
    assert first["expires_at"] and not first["revoked"], first

    proc = subprocess.run([srv.binary, "--data-dir", srv.data_dir, "--rotate-admin-token",
                           "--admin-token-validity", "30d"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    new = srv.token()
    assert new and new != old
    assert stat.S_IMODE(os.stat(srv.token_path).st_mode) == 0o600
    # Another process revoked it: the server's token cache holds an entry at most 1 s.
    deadline = time.monotonic() + 10
    while srv.request("GET", "/v1/accounts", token=old).status == 200:
        assert time.monotonic() < deadline, "the rotated-out token still works"
        time.sleep(0.05)
    assert_problem(srv.request("GET", "/v1/accounts", token=old), 401)
    assert srv.request("GET", "/v1/accounts", token=new).status == 200
    items = {t["id"]: t for t in srv.request(
        "GET", "/v1/tokens?account=default&principal=admin", token=new).json()["items"]}
    assert items[first["id"]]["revoked"] is True, items
    (fresh,) = [t for t in items.values() if not t["revoked"]]
    assert fresh["id"] in proc.stdout, proc.stdout
    # 30 days from now, within a minute; the first one had 2 days.
    expires = calendar.timegm(time.strptime(fresh["expires_at"], "%Y-%m-%dT%H:%M:%SZ"))
    first_expires = calendar.timegm(time.strptime(first["expires_at"], "%Y-%m-%dT%H:%M:%SZ"))
    assert abs(expires - (created + 30 * DAY)) < 120, fresh
    assert abs(first_expires - (created + 2 * DAY)) < 120, first


# --- installs and grants ---------------------------------------------------------------------

def test_previous_key_removed_unless_kept(server, tenant, agents):
    """After a verified install the agent removes <key>.prev; a profile with keep_previous keeps
    it (and then it holds the previous key)."""
    account, admin = tenant
    agent = agents(account, {"env": "dev"}, start=False)
    agent.profiles["keep"] = agent.nginx_profile(keep_previous=True)
    agent.start()
    n = agent.nginx
    prev_key = n.key_path + ".prev"
    initial_key = open(n.key_path, "rb").read()

    cert = request_cert(admin.cli)
    dep = deploy(admin.cli, cert["id"], account, wait=True)
    assert dep["state"] == "succeeded", dep
    assert not os.path.exists(prev_key), "the previous key was left on disk"
    assert os.path.exists(n.cert_path + ".prev")  # certificates are not secret
    installed_key = open(n.key_path, "rb").read()
    assert installed_key != initial_key

    cert2 = request_cert(admin.cli)
    dep2 = deploy(admin.cli, cert2["id"], account, profile="keep", wait=True)
    assert dep2["state"] == "succeeded", dep2
    assert os.path.exists(prev_key), "keep_previous = true: the previous key must stay"
    assert open(prev_key, "rb").read() == installed_key
    assert stat.S_IMODE(os.stat(prev_key).st_mode) == 0o600


def test_grant_revoke_stops_assignment(server, make_account, make_principal, workdir):
    """Revoking a grant cancels the targets not yet delivered under it, and agents of that
    account that enroll later get nothing from the existing deployment. (The agents enroll
    through the API and never poll, so nothing is delivered to them.)"""
    account_a, account_b = make_account(), make_account()
    admin_a = make_principal(account_a, "admin")
    admin_b = make_principal(account_b, "admin")
    grant = admin_b.cli.json("grant", "create", "--from", account_a, "--to", account_b)

    def enroll(name):
        token = admin_b.cli.json("agent", "token", "create", "--tag", "env=dev")["token"]
        resp = server.request("POST", "/v1/agent/enroll",
                              {"token": token, "csr": make_csr(workdir.path, name),
                               "hostname": name}, token=None)
        assert resp.status == 201, resp
        return resp.json()["agent_id"]

    offline = enroll("offline")
    cert = request_cert(admin_a.cli)
    dep = deploy(admin_a.cli, cert["id"], account_b)
    dep = wait_deployment(admin_a.cli, dep["id"],
                          lambda d: targets_by_agent(d).get(offline, {}).get("state")
                          == "pending", "a pending target for the offline agent")
    assert not targets_by_agent(dep)[offline].get("delivered_at"), dep

    admin_b.cli("grant", "revoke", grant["id"])
    dep = admin_a.cli.json("deploy", "show", dep["id"])
    t = targets_by_agent(dep)[offline]
    assert t["state"] == "cancelled" and "grant" in t["reason"], t
    assert dep["state"] != "running", dep

    late = enroll("late")
    dep = admin_a.cli.json("deploy", "show", dep["id"])
    assert late not in targets_by_agent(dep), dep
    assert set(targets_by_agent(dep)) == {offline}, dep
