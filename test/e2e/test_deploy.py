"""Agents and deployments end to end (issue #4, docs/agents.md): real certfleetd, certfleet and
certfleet-agent binaries, and a real nginx per agent on loopback (agents.py).

Every test works in accounts of its own on the module's server, with agents, state dirs, allowed
roots and nginx instances of its own, so tests are independent. The server runs with a cheap
PBKDF2 iteration count (deployments export keys): nothing here measures it.
"""

import json
import os
import re
import subprocess
import shutil
import stat
import time

import pytest

from agents import (AgentFactory, file_serial, make_csr, normalize_serial, pair_matches,
                    served_serial, start_nginx, wait_until)
from conftest import (Server, Workspace, _free_port, assert_cli_denied, assert_problem,
                      unique_name, write_private_file)

DEPLOY_TIMEOUT = "3m"  # --timeout of --wait: a bound, far above what a deployment here takes
CONVERGE_S = 120.0


# --- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(certfleetd_bin):
    """The module's certfleetd (overrides conftest's): exports use a cheap PBKDF2 count."""
    ws = Workspace("certfleet-e2e-deploy-")
    srv = Server(certfleetd_bin, ws.sub("data"))
    srv.extra_args = ["--pkcs8-iterations", "10000"]
    os.mkdir(srv.data_dir, 0o700)
    try:
        yield srv.start()
    finally:
        try:
            srv.stop()
        finally:
            ws.cleanup()


@pytest.fixture
def agents(server, cli, workdir):
    """agents(account, tags, cli=..., ...) starts an enrolled certfleet-agent with its own nginx
    (agents.AgentFactory); all are stopped with SIGTERM at teardown and must exit 0."""
    factory = AgentFactory(server, cli, workdir)
    yield factory
    failures = factory.teardown()
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


@pytest.fixture
def tenant(make_account, make_principal):
    """A fresh account and an admin principal of it."""
    account = make_account()
    return account, make_principal(account, "admin")


# --- helpers ---------------------------------------------------------------------------------

def request_cert(cli, domain=None):
    name = unique_name("web")
    cert = cli.json("cert", "request", "--name", name, "--domain", domain or f"{name}.example.test",
                    "--exportable")
    assert cert["status"] == "issued", cert
    return cert


def deploy_args(cert_id, account, selector=None, profile="nginx", extra=()):
    args = ["deploy", "create", "--cert", cert_id, "--account", account, "--profile", profile]
    for key, value in (selector or {"env": "dev"}).items():
        args += ["--selector", f"{key}={value}"]
    return args + list(extra)


def deploy_wait(cli, cert_id, account, selector=None, profile="nginx", check=True, extra=()):
    """`certfleet --json deploy create ... --wait`: (process, final deployment JSON or None)."""
    proc = cli.run("--json", *deploy_args(cert_id, account, selector, profile,
                                          ["--wait", "--timeout", DEPLOY_TIMEOUT, *extra]),
                   check=check)
    doc = None
    if proc.stdout.strip():
        doc = json.loads(proc.stdout)
    return proc, doc


def targets_by_agent(deployment):
    return {t["agent"]: t for t in deployment["targets"]}


def wait_deployment(cli, dep_id, predicate, what, agents_to_log=()):
    def check():
        dep = cli.json("deploy", "show", dep_id)
        return dep if predicate(dep) else None

    def logs():
        return "\n".join(a.log_tail(20) for a in agents_to_log) + "\n" + \
            str(cli.json("deploy", "show", dep_id))
    return wait_until(check, CONVERGE_S, what, logs)


def listing(*dirs):
    """{path: (mode, size, is_link, content)} of everything under `dirs` (for unchanged-checks)."""
    out = {}
    for d in dirs:
        for root, subdirs, files in os.walk(d):
            for n in subdirs + files:
                p = os.path.join(root, n)
                st = os.lstat(p)
                content = None
                if stat.S_ISREG(st.st_mode):
                    with open(p, "rb") as f:
                        content = f.read()
                elif stat.S_ISLNK(st.st_mode):
                    content = os.readlink(p)
                out[p] = (stat.S_IMODE(st.st_mode), st.st_size, stat.S_ISLNK(st.st_mode), content)
    return out


def assert_no_temp_files(*dirs):
    for d in dirs:
        left = [n for n in os.listdir(d) if ".tmp-" in n or n.endswith(".pending")]
        assert not left, f"left behind in {d}: {left}"


def expect_served(agent, serial, what):
    got = agent.nginx.served_serial()
    assert got == serial, f"{what}: nginx of {agent.base} serves {got}, expected {serial}"


# --- the harness on its own ------------------------------------------------------------------

def test_harness_nginx_serves_and_reloads(workdir):
    """nginx starts on the initial self-signed pair, s_client reads its serial, nginx -t and
    reload work with the prefix, and it stops on SIGTERM."""
    n = start_nginx(workdir.path)
    try:
        assert n.served_serial() == n.initial_serial
        assert pair_matches(n.cert_path, n.key_path)
        os.unlink(n.cert_path)
        os.unlink(n.key_path)
        n.make_initial_cert()
        assert subprocess.run(n.test_argv(), capture_output=True).returncode == 0
        assert subprocess.run(n.reload_argv(), capture_output=True).returncode == 0
        wait_until(lambda: n.served_serial() == n.initial_serial, 20, "the reloaded certificate")
    finally:
        assert n.stop() == 0
    assert served_serial(n.port, check=False) is None


# --- the main flow ----------------------------------------------------------------------------

def test_deploy_to_dev_agents_only(server, tenant, agents):
    account, admin = tenant
    dev1 = agents(account, {"env": "dev"}, name="dev1")
    dev2 = agents(account, {"env": "dev"}, name="dev2")
    prod = agents(account, {"env": "prod"}, name="prod")
    prod_before = {p: v for p, v in listing(prod.root).items()}
    cert = request_cert(admin.cli)
    serial = normalize_serial(cert["serial"])

    proc, dep = deploy_wait(admin.cli, cert["id"], account)
    assert dep["id"].startswith("dep_"), dep
    assert dep["state"] == "succeeded", dep
    assert dep["certificate"] == cert["id"] and dep["profile"] == "nginx", dep
    assert dep["selector"] == {"env": "dev"} and dep["generation"] == 1, dep
    by_agent = targets_by_agent(dep)
    assert set(by_agent) == {dev1.id, dev2.id}, (by_agent.keys(), prod.id)
    for agent in (dev1, dev2):
        t = by_agent[agent.id]
        assert t["state"] == "verified", t
        assert agent.nginx.cert_path in t["paths"] and agent.nginx.key_path in t["paths"], t
        # What nginx serves is the certificate: the new serial, over a real handshake.
        expect_served(agent, serial, "after the deployment")
        assert agent.live_serial() == serial
        assert agent.live_pair_matches()
        assert stat.S_IMODE(os.stat(agent.nginx.key_path).st_mode) == 0o600
        # fullchain = leaf + chain (the seed's bug: it wrote only the leaf).
        with open(agent.nginx.cert_path) as f:
            assert f.read().count("BEGIN CERTIFICATE") >= 2

    # The prod agent got nothing: no target, its files and its served certificate unchanged.
    expect_served(prod, prod.nginx.initial_serial, "prod after the deployment")
    assert listing(prod.root) == prod_before

    # Inventory: where the certificate is, and what each host has.
    rows = admin.cli.json("inventory", "--cert", cert["id"])["items"]
    assert {r["agent"] for r in rows} == {dev1.id, dev2.id}, rows
    for r in rows:
        agent = dev1 if r["agent"] == dev1.id else dev2
        assert r["certificate"] == cert["id"] and r["deployment"] == dep["id"], r
        assert normalize_serial(r["serial"]) == serial, r
        assert r["state"] == "verified" and r["verified_at"] and r["installed_at"], r
        assert agent.nginx.cert_path in r["paths"], r
        assert r["secret_id"] == dep["secret_id"], r
        for field in ("version", "not_after", "hostname"):
            assert r.get(field), (field, r)
    assert admin.cli.json("inventory", "--agent", prod.id)["items"] == []
    dev1_rows = admin.cli.json("inventory", "--agent", dev1.id)["items"]
    assert [r["certificate"] for r in dev1_rows] == [cert["id"]], dev1_rows
    table = admin.cli("inventory", "--cert", cert["id"]).stdout.splitlines()
    assert re.match(r"CERTIFICATE\s+NAME\s+VERSION\s+SERIAL", table[0]), table
    assert len(table) == 3, table

    # Human output of show: the fields and a table of targets.
    human = admin.cli("deploy", "show", dep["id"]).stdout
    assert re.search(r"^state:\s+succeeded$", human, re.M), human
    assert re.search(r"^AGENT\s+HOSTNAME\s+STATE\s+VERSION", human, re.M), human
    assert len([ln for ln in human.splitlines() if ln.startswith("agt_")]) == 2, human
    listed = admin.cli.json("deploy", "list", "--account", account, "--cert", cert["id"])
    assert [d["id"] for d in listed["items"]] == [dep["id"]], listed

    # The passphrase: the dev agents' tags satisfy the secret's, prod's do not (403, audited).
    secret = f"/v1/agent/secrets/{dep['secret_id']}?version={dep['secret_version']}"
    ok = dev1.request("GET", secret)
    assert ok.status == 200 and ok.json()["value"], ok
    assert_problem(prod.request("GET", secret), 403)
    records = admin.cli.json("audit", "list", "--all", "--resource",
                             dep["secret_id"])["items"]
    prod_principal = admin.cli.json("agent", "show", prod.id)["principal"]
    assert any(r["principal"] == prod_principal and r["outcome"] == "denied"
               and r["status"] == 403 for r in records), records
    # prod cannot fetch another agent's bundle either, and has no jobs.
    assert prod.request("GET", f"/v1/agent/jobs/{by_agent[dev1.id]['id']}/bundle").status == 404
    assert prod.request("GET", "/v1/agent/jobs?wait=0").json()["jobs"] == []

    # The agents as the API and the CLI see them; tags are the tokens'.
    listed_agents = {a["id"]: a
                     for a in admin.cli.json("agent", "list", "--account", account)["items"]}
    assert set(listed_agents) == {dev1.id, dev2.id, prod.id}
    assert listed_agents[prod.id]["tags"] == {"env": "prod"}
    shown = admin.cli.json("agent", "show", dev1.id)
    assert shown["tags"] == {"env": "dev"} and shown["status"] == "active", shown
    assert re.search(r"^status:\s+active$", admin.cli("agent", "show", dev1.id).stdout, re.M)


def test_cross_account_deploy_needs_grant(server, make_account, make_principal, agents):
    account_a, account_b = make_account(), make_account()
    admin_a = make_principal(account_a, "admin")
    admin_b = make_principal(account_b, "admin")
    agent_b = agents(account_b, {"env": "dev"})
    cert = request_cert(admin_a.cli)

    proc = admin_a.cli(*deploy_args(cert["id"], account_b), check=False)
    assert_cli_denied(proc, 403)
    assert "grant.missing" in proc.stderr, proc.stderr
    doc = assert_problem(server.request("POST", "/v1/deployments",
                                        {"certificate": cert["id"], "target_account": account_b,
                                         "selector": {"env": "dev"}, "profile": "nginx"},
                                        token=admin_a.token()), 403)
    assert "grant.missing" in doc["detail"], doc
    expect_served(agent_b, agent_b.nginx.initial_serial, "without a grant")

    admin_b.cli("grant", "create", "--from", account_a, "--to", account_b)
    _, dep = deploy_wait(admin_a.cli, cert["id"], account_b)
    assert dep["state"] == "succeeded", dep
    assert dep["target_account"] == account_b and dep["account"] == account_a, dep
    assert set(targets_by_agent(dep)) == {agent_b.id}
    expect_served(agent_b, normalize_serial(cert["serial"]), "with a grant")
    # Visible in the target account too.
    assert admin_b.cli.json("deploy", "show", dep["id"])["state"] == "succeeded"


def test_zero_matching_agents_finish_at_once(tenant, agents):
    account, admin = tenant
    agents(account, {"env": "dev"})
    cert = request_cert(admin.cli)
    started = time.monotonic()
    dep = admin.cli.json(*deploy_args(cert["id"], account, {"env": "nowhere"}))
    # The deployment job decides right after the request: the response may still say running.
    assert dep["state"] in ("no_targets", "running"), dep
    dep = wait_deployment(admin.cli, dep["id"], lambda d: d["state"] != "running",
                          "the deployment to finish")
    assert dep["state"] == "no_targets", dep
    assert dep.get("targets", []) == [], dep
    assert "env=nowhere" in dep["state_detail"] or "match" in dep["state_detail"], dep
    proc = admin.cli(*deploy_args(cert["id"], account, {"env": "nowhere"},
                                  extra=["--wait", "--timeout", DEPLOY_TIMEOUT]), check=False)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "no_targets" in proc.stderr, proc.stderr
    assert time.monotonic() - started < 20, "no_targets was not decided at once"


def test_roles_and_accounts_for_deployments(server, tenant, make_account, make_principal,
                                            agents):
    """Operators deploy but do not enroll agents; auditors read but do not deploy; another
    account sees nothing; an agent of another account gets neither the bundle nor the
    passphrase."""
    account, admin = tenant
    operator = make_principal(account, "operator")
    auditor = make_principal(account, "auditor")
    other = make_account()
    other_admin = make_principal(other, "admin")
    mine = agents(account, {"env": "dev"})
    theirs = agents(other, {"env": "dev"}, cli=other_admin.cli)
    cert = request_cert(operator.cli)

    assert_cli_denied(operator.cli("agent", "token", "create", "--account", account, "--tag",
                                   "env=dev", check=False), 403)
    assert_cli_denied(auditor.cli(*deploy_args(cert["id"], account), check=False), 403)
    _, dep = deploy_wait(operator.cli, cert["id"], account)
    assert dep["state"] == "succeeded" and set(targets_by_agent(dep)) == {mine.id}, dep
    assert auditor.cli.json("deploy", "show", dep["id"])["state"] == "succeeded"
    assert [r["agent"] for r in auditor.cli.json("inventory", "--cert", cert["id"])["items"]] \
        == [mine.id]
    expect_served(theirs, theirs.nginx.initial_serial, "the other account's agent")

    # Another account: the deployment and the agent do not exist for it.
    assert_cli_denied(other_admin.cli("deploy", "show", dep["id"], check=False), 404)
    assert_cli_denied(other_admin.cli("agent", "show", mine.id, check=False), 404)
    assert dep["id"] not in [d["id"] for d in
                             other_admin.cli.json("deploy", "list")["items"]]
    foreign_inventory = other_admin.cli("--json", "inventory", "--cert", cert["id"], check=False)
    if foreign_inventory.returncode == 0:
        assert json.loads(foreign_inventory.stdout)["items"] == []
    else:
        assert_cli_denied(foreign_inventory, 404)

    # The other account's agent carries env=dev too, but neither the secret (of this account)
    # nor this agent's bundle is its business.
    secret = f"/v1/agent/secrets/{dep['secret_id']}?version={dep['secret_version']}"
    assert theirs.request("GET", secret).status in (403, 404)
    target = targets_by_agent(dep)[mine.id]["id"]
    assert theirs.request("GET", f"/v1/agent/jobs/{target}/bundle").status == 404
    report = theirs.request("POST", f"/v1/agent/jobs/{target}/report",
                            {"seq": targets_by_agent(dep)[mine.id]["seq"], "state": "failed",
                             "reason": "forged"})
    assert report.status == 404, report
    assert admin.cli.json("deploy", "show", dep["id"])["state"] == "succeeded"
    # Without a client certificate the agent protocol is closed.
    assert server.request("GET", "/v1/agent/jobs?wait=0", token=None).status == 401


def test_deadline_fails_a_deployment_nobody_answers(tenant, agents):
    """An agent that matches but never answers: the deployment fails when its deadline passes
    (1m, the shortest allowed) instead of waiting forever."""
    account, admin = tenant
    agent = agents(account, {"env": "dev"})
    assert agent.stop() == 0
    cert = request_cert(admin.cli)
    started = time.monotonic()
    proc, dep = deploy_wait(admin.cli, cert["id"], account, check=False,
                            extra=["--deadline", "1m"])
    elapsed = time.monotonic() - started
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert dep["state"] == "failed", dep
    assert 55 <= elapsed < 150, elapsed
    t = targets_by_agent(dep)[agent.id]
    assert t["state"] != "verified", t
    assert "deadline" in (dep.get("state_detail") or "") + proc.stderr, (dep, proc.stderr)


def test_encrypted_key_with_nginx_password_file(tenant, agents):
    """key_encrypted: nginx gets the encrypted PKCS#8 key plus a 0600 passphrase file (its
    ssl_password_file), never a plaintext key, and serves the new certificate."""
    account, admin = tenant
    agent = agents(account, {"env": "dev"}, start=False)
    agent.nginx.use_encrypted_key()
    agent.profiles["nginx"]["key_encrypted"] = True
    agent.start()
    n = agent.nginx
    cert = request_cert(admin.cli)
    _, dep = deploy_wait(admin.cli, cert["id"], account)
    assert dep["state"] == "succeeded", dep
    assert n.password_file in targets_by_agent(dep)[agent.id]["paths"], dep
    with open(n.key_path) as f:
        assert f.read().startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    for p in (n.key_path, n.password_file):
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, p
    assert pair_matches(n.cert_path, n.key_path, passfile=n.password_file)
    expect_served(agent, normalize_serial(cert["serial"]), "with an encrypted key")


def test_haproxy_pkcs12_and_files_layouts(tenant, agents):
    """The other installers write their documented layouts inside the root."""
    account, admin = tenant
    agent = agents(account, {"env": "dev"}, start=False, nginx=False, profiles={
        "lb": {"installer": "haproxy", "name": "site"},
        "java": {"installer": "pkcs12", "name": "site"},
        "plain": {"installer": "files", "name": "site"},
    })
    for name in ("lb", "java", "plain"):
        d = os.path.join(agent.root, name)
        os.makedirs(os.path.join(d, "private"))
        agent.profiles[name]["cert_dir"] = d
        agent.profiles[name]["key_dir"] = os.path.join(d, "private")
    agent.start()
    cert = request_cert(admin.cli)
    serial = normalize_serial(cert["serial"])
    for name in ("lb", "java", "plain"):
        _, dep = deploy_wait(admin.cli, cert["id"], account, profile=name)
        assert dep["state"] == "succeeded", dep
        assert targets_by_agent(dep)[agent.id]["state"] in ("installed", "verified"), dep

    lb = os.path.join(agent.root, "lb", "site.pem")
    assert stat.S_IMODE(os.stat(lb).st_mode) == 0o600
    with open(lb) as f:
        text = f.read()
    assert text.count("BEGIN CERTIFICATE") >= 2 and "PRIVATE KEY" in text
    assert file_serial(lb) == serial and pair_matches(lb, lb)

    java = os.path.join(agent.root, "java")
    p12, passfile = os.path.join(java, "site.p12"), os.path.join(java, "private",
                                                                  "site-passphrase")
    for p in (p12, passfile):
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, p
    leaf = subprocess.run(["openssl", "pkcs12", "-in", p12, "-passin", f"file:{passfile}",
                           "-clcerts", "-nokeys"], capture_output=True, check=True).stdout
    out = os.path.join(agent.base, "p12-leaf.pem")
    with open(out, "wb") as f:
        f.write(leaf)
    assert file_serial(out) == serial

    plain = os.path.join(agent.root, "plain")
    full, key = os.path.join(plain, "site-fullchain.pem"), os.path.join(plain, "private",
                                                                       "site-privkey.pem")
    assert file_serial(full) == serial and pair_matches(full, key)
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    with open(os.path.join(plain, "site-chain.pem")) as f:
        assert "BEGIN CERTIFICATE" in f.read()


def test_refusals_before_and_at_the_agent(server, make_account, make_principal, agents):
    """A certificate that is not exportable cannot be deployed (409); a revoked grant refuses
    again; a profile the agent does not have fails that target with a reason."""
    account_a, account_b = make_account(), make_account()
    admin_a = make_principal(account_a, "admin")
    admin_b = make_principal(account_b, "admin")
    agent_a = agents(account_a, {"env": "dev"}, cli=admin_a.cli)

    name = unique_name("sealed")
    sealed = admin_a.cli.json("cert", "request", "--name", name, "--domain",
                              f"{name}.example.test")
    assert sealed["exportable"] is False, sealed
    assert_cli_denied(admin_a.cli(*deploy_args(sealed["id"], account_a), check=False), 409)

    cert = request_cert(admin_a.cli)
    proc, dep = deploy_wait(admin_a.cli, cert["id"], account_a, profile="nosuchprofile",
                            check=False)
    assert proc.returncode == 1 and dep["state"] == "failed", (proc.stderr, dep)
    t = targets_by_agent(dep)[agent_a.id]
    assert t["state"] == "failed" and "nosuchprofile" in t["reason"], t
    expect_served(agent_a, agent_a.nginx.initial_serial, "after an unknown profile")

    grant = admin_b.cli.json("grant", "create", "--from", account_a, "--to", account_b)
    admin_b.cli("grant", "revoke", grant["id"])
    proc = admin_a.cli(*deploy_args(cert["id"], account_b), check=False)
    assert_cli_denied(proc, 403)
    assert "grant.missing" in proc.stderr, proc.stderr


def test_system_admin_lists_deployments_by_account(tenant, cli):
    """docs/agents.md: GET /v1/deployments?account=A; docs/api.md: system admins act on any
    account by naming it, as `agent list --account` and `agent token list --account` do."""
    account, admin = tenant
    cert = request_cert(admin.cli)
    dep = admin.cli.json(*deploy_args(cert["id"], account, {"env": "nowhere"}))
    listed = cli.json("deploy", "list", "--account", account)["items"]
    assert dep["id"] in [d["id"] for d in listed], listed


def test_no_secrets_left_outside_the_profile(server, tenant, agents):
    """The seed left decrypted keys in /tmp and passed passphrases on command lines: here the
    agent's TMPDIR stays empty, its state dir holds only its identity, and neither the
    passphrase nor the deployed key appears in the agent's or the server's log."""
    account, admin = tenant
    agent = agents(account, {"env": "dev"}, start=False)
    tmp = os.path.join(agent.base, "tmp")
    os.makedirs(tmp)
    agent.start(extra_env={"TMPDIR": tmp})
    cert = request_cert(admin.cli)
    _, dep = deploy_wait(admin.cli, cert["id"], account)
    assert dep["state"] == "succeeded", dep

    assert os.listdir(tmp) == []
    assert stat.S_IMODE(os.stat(agent.state_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(agent.key_path).st_mode) == 0o600
    assert set(os.listdir(agent.state_dir)) <= {"agent.key", "agent.crt", "agent-chain.pem",
                                                "state.json"}, os.listdir(agent.state_dir)
    passphrase = admin.cli("secret", "show", dep["secret_id"], "--value").stdout.strip()
    assert len(passphrase) >= 16
    with open(agent.nginx.key_path) as f:
        key_body = f.read().splitlines()[1]  # a line of the deployed key's base64
    for name, text in (("agent log", agent.log_text()),
                       ("server log", server.log_bytes().decode(errors="replace"))):
        assert passphrase not in text, f"the passphrase is in the {name}"
        assert key_body not in text, f"the deployed key is in the {name}"


# --- rollback ----------------------------------------------------------------------------------

def test_nginx_t_failure_rolls_back(tenant, agents):
    """nginx -t fails for the new files (a test configuration that pins the old certificate, so
    the new key does not match it): the old files stay live and the reason is reported."""
    account, admin = tenant
    agent = agents(account, {"env": "dev"}, start=False)
    n = agent.nginx.start()
    pinned = os.path.join(agent.base, "pinned-old.pem")
    shutil.copy(n.cert_path, pinned)
    test_conf = n.write_config(os.path.join(n.prefix, "test.conf"), cert_path=pinned)
    agent.profiles["nginx"]["test"] = n.test_argv(conf=test_conf)
    agent.start()
    cert = request_cert(admin.cli)

    proc, dep = deploy_wait(admin.cli, cert["id"], account, check=False)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert dep["state"] == "failed", dep
    t = targets_by_agent(dep)[agent.id]
    assert t["state"] == "rolled_back", t
    assert t["reason"], t
    assert "rolled_back" in proc.stderr and t["reason"][:40] in proc.stderr, proc.stderr
    expect_served(agent, n.initial_serial, "after the rollback")
    assert agent.live_serial() == n.initial_serial and agent.live_pair_matches()
    assert_no_temp_files(n.cert_dir, n.key_dir)


def test_reload_without_effect_rolls_back(tenant, agents):
    """The reload "succeeds" but nginx keeps serving the old certificate: verify fails, the old
    files are restored, and the reason names the serial."""
    account, admin = tenant
    agent = agents(account, {"env": "dev"}, start=False)
    agent.profiles["nginx"]["reload"] = ["/bin/true"]
    agent.start()
    n = agent.nginx
    cert = request_cert(admin.cli)

    proc, dep = deploy_wait(admin.cli, cert["id"], account, check=False)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert dep["state"] == "failed", dep
    t = targets_by_agent(dep)[agent.id]
    assert t["state"] == "rolled_back", t
    assert "serial" in t["reason"].lower() or "verify" in t["reason"].lower(), t
    expect_served(agent, n.initial_serial, "after the rollback")
    assert agent.live_serial() == n.initial_serial and agent.live_pair_matches()


# --- crashes at every install step -------------------------------------------------------------

FAILPOINTS = [
    "write_temp:app-fullchain.pem",
    "write_temp:app-privkey.pem",
    "link_prev:app-fullchain.pem",
    "link_prev:app-privkey.pem",
    "mark_pending",
    "rename:app-fullchain.pem",
    "rename:app-chain.pem",
    "rename:app-privkey.pem",
    "fsync_dirs",
    "clear_pending",
    "reload",
    "verify",
    "report",
]


@pytest.mark.parametrize("step", FAILPOINTS)
def test_killed_at_install_step_recovers(tenant, agents, step):
    account, admin = tenant
    agent = agents(account, {"env": "dev"}, failpoint=step)
    n = agent.nginx
    cert = request_cert(admin.cli)
    serial = normalize_serial(cert["serial"])
    dep = admin.cli.json(*deploy_args(cert["id"], account))
    assert dep["state"] == "running", dep

    rc = agent.wait_exit(timeout=CONVERGE_S)
    assert rc == -9, f"expected SIGKILL at {step}, got exit {rc}\n{agent.log_tail()}"
    # Until recovery the live set may be mixed only while the journal marker says so.
    if not agent.live_pair_matches():
        marker = [x for x in os.listdir(n.cert_dir) if x.endswith(".pending")]
        assert marker, f"mixed live files without a pending marker after a crash at {step}"

    agent.start()  # the same state dir, without the failpoint
    done = wait_deployment(admin.cli, dep["id"], lambda d: d["state"] != "running",
                           f"the deployment to converge after a crash at {step}", [agent])
    assert done["state"] == "succeeded", done
    assert targets_by_agent(done)[agent.id]["state"] == "verified", done
    assert agent.live_pair_matches(), f"live key and certificate differ after a crash at {step}"
    assert agent.live_serial() == serial
    expect_served(agent, serial, f"after a crash at {step}")
    assert_no_temp_files(n.cert_dir, n.key_dir)


# --- the host is protected ---------------------------------------------------------------------

def test_symlinked_key_dir_is_refused(tenant, agents, workdir):
    """A symlink planted for the key directory (inside the root) pointing outside it: the agent
    refuses to write through it; the files outside stay as they were."""
    account, admin = tenant
    agent = agents(account, {"env": "dev"})  # planted after start: the agent is already running
    n = agent.nginx
    outside = workdir.sub("outside")
    os.makedirs(outside)
    shutil.move(n.key_dir, os.path.join(outside, "private"))
    write_private_file(os.path.join(outside, "private", "sentinel.txt"), "sentinel\n")
    os.symlink(os.path.join(outside, "private"), n.key_dir)
    before = listing(outside)
    cert = request_cert(admin.cli)

    proc, dep = deploy_wait(admin.cli, cert["id"], account, check=False)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    t = targets_by_agent(dep)[agent.id]
    assert t["state"] in ("failed", "rolled_back"), t
    assert t["reason"], t
    assert listing(outside) == before, "a file outside the allowed root was changed"
    expect_served(agent, n.initial_serial, "after the refused install")


def test_symlinked_files_do_not_redirect_writes(tenant, agents, workdir):
    """Symlinks planted in place of the live files and of their .prev names point outside the
    root: whatever the agent does (refuse, or replace the links), nothing outside changes and no
    key material leaves the root."""
    account, admin = tenant
    agent = agents(account, {"env": "dev"})  # planted after start: the agent is already running
    n = agent.nginx
    outside = workdir.sub("outside")
    os.makedirs(outside)
    # Copies of the live files, so nginx -t still passes through the links.
    shutil.copy(n.cert_path, os.path.join(outside, "cert-sentinel.pem"))
    shutil.copy(n.key_path, os.path.join(outside, "key-sentinel.pem"))
    os.unlink(n.cert_path)
    os.symlink(os.path.join(outside, "cert-sentinel.pem"), n.cert_path)
    write_private_file(os.path.join(outside, "prev-sentinel"), "do not touch\n")
    os.symlink(os.path.join(outside, "prev-sentinel"), n.key_path + ".prev")
    os.symlink(os.path.join(outside, "prev-sentinel"), n.chain_path)
    before = listing(outside)
    cert = request_cert(admin.cli)

    proc, dep = deploy_wait(admin.cli, cert["id"], account, check=False)
    assert listing(outside) == before, "a file outside the allowed root was changed"
    t = targets_by_agent(dep)[agent.id]
    if dep["state"] == "succeeded":
        # The links were replaced by regular files inside the root.
        for p in (n.cert_path, n.chain_path, n.key_path):
            assert not os.path.islink(p), f"{p} is still a symlink after the install"
        assert agent.live_pair_matches()
        expect_served(agent, normalize_serial(cert["serial"]), "after the install")
    else:
        assert t["state"] in ("failed", "rolled_back") and t["reason"], t
        expect_served(agent, n.initial_serial, "after the refused install")


def test_unnormalized_paths_in_config_are_refused(server, tenant, agents):
    """A profile directory with ".." (path traversal out of the root) stops the agent at start;
    nothing is written outside the root."""
    account, _ = tenant
    agent = agents(account, {"env": "dev"}, start=False, nginx=False,
                   profiles={"escape": {"installer": "files"}})
    agent.profiles["escape"]["cert_dir"] = agent.root + "/../escaped"
    agent.write_config()
    agent.start(wait_enrolled=False)
    rc = agent.wait_exit(timeout=30)
    assert rc not in (0, -9), rc
    assert "normalized" in agent.log_text() or ".." in agent.log_text(), agent.log_tail()
    assert not os.path.exists(os.path.join(agent.base, "escaped"))


def test_shell_metacharacters_do_nothing(server, tenant, agents, workdir):
    """Names with $(...), backticks and ';' reach programs as plain argv strings: nothing is
    executed. The server refuses such profile names; directory names and command arguments
    holding them are written and passed literally. An injected command would create a file
    named pwned-<random>-* (relative names: in whatever directory it ran; absolute ones: in
    marker_dir)."""
    account, admin = tenant
    cert = request_cert(admin.cli)
    marker_dir = workdir.sub("pwned")
    os.makedirs(marker_dir)
    rel = f"pwned-{os.urandom(4).hex()}-"

    def pwn(tag):
        return f"{marker_dir}/{rel}{tag}"

    def injected():
        found = []
        for top in (workdir.path, "/", "/tmp", os.path.expanduser("~")):
            depth_one = top in ("/", "/tmp", os.path.expanduser("~"))
            for root, dirs, files in os.walk(top):
                found += [os.path.join(root, n) for n in files + dirs
                          if n.startswith(rel) and not os.path.isdir(os.path.join(root, n))]
                if depth_one:
                    break
        return found

    # 1. The API and the CLI refuse a profile name that is not [A-Za-z0-9._-].
    for bad in (f"nginx;touch {pwn('p1')}", f"$(touch {pwn('p2')})", f"web`touch {rel}p3`"):
        assert_problem(server.request("POST", "/v1/deployments",
                                      {"certificate": cert["id"], "target_account": account,
                                       "selector": {"env": "dev"}, "profile": bad},
                                      token=admin.token()), 400)
        assert admin.cli(*deploy_args(cert["id"], account, profile=bad),
                         check=False).returncode == 2

    # 2. An agent whose directories and command arguments carry shell syntax.
    weird = f"tls $(touch {rel}d1) ;touch {rel}d2; `touch {rel}d3` | id > {rel}d4 &"
    agent = agents(account, {"env": "dev"}, start=False, nginx=False, profiles={
        "files": {"installer": "files", "name": "app"},
        "script": {"installer": "exec", "name": "app", "exec": ["/usr/bin/sha256sum"]},
    })
    agent.profiles["files"]["cert_dir"] = os.path.join(agent.root, weird)
    agent.profiles["files"]["test"] = ["/usr/bin/test", "-n", f"$(touch {pwn('t1')})"]
    agent.profiles["files"]["reload"] = ["/bin/echo", ";", "touch", pwn("r1"), "&&",
                                         f"`touch {pwn('r2')}`", f"$(touch {pwn('r3')})",
                                         f"; touch {rel}r4"]
    agent.profiles["script"]["cert_dir"] = os.path.join(agent.root, weird + " exec")
    os.makedirs(agent.profiles["files"]["cert_dir"])
    os.makedirs(agent.profiles["script"]["cert_dir"])
    agent.start()

    for profile in ("files", "script"):
        _, dep = deploy_wait(admin.cli, cert["id"], account, profile=profile)
        assert dep["state"] == "succeeded", dep
        t = targets_by_agent(dep)[agent.id]
        assert t["state"] in ("installed", "verified"), t
        d = agent.profiles[profile]["cert_dir"]
        assert os.path.join(d, "app-fullchain.pem") in t["paths"], t
        assert file_serial(os.path.join(d, "app-fullchain.pem")) == \
            normalize_serial(cert["serial"])
        assert pair_matches(os.path.join(d, "app-fullchain.pem"),
                            os.path.join(d, "app-privkey.pem"))
    assert injected() == [], "an injected command ran"
    assert os.listdir(agent.cwd) == [], os.listdir(agent.cwd)

    # 3. A profile name with shell syntax in the agent's own configuration stops it at start.
    bad = agents(account, {"env": "dev"}, start=False, nginx=False, profiles={
        f"web$(touch {rel}n1);touch {pwn('n2')}": {"installer": "files"}})
    name = next(iter(bad.profiles))
    bad.profiles[name]["cert_dir"] = bad.root
    bad.start(wait_enrolled=False)
    assert bad.wait_exit(timeout=30) not in (0, -9), bad.log_tail()
    assert injected() == [], "an injected command ran"


# --- redeploy, late agents ---------------------------------------------------------------------

def test_redeploy_new_generation_new_secret_version(tenant, agents):
    account, admin = tenant
    agent = agents(account, {"env": "dev"})
    cert = request_cert(admin.cli)
    _, first = deploy_wait(admin.cli, cert["id"], account)
    assert first["state"] == "succeeded" and first["generation"] == 1, first
    first_target = targets_by_agent(first)[agent.id]

    proc = admin.cli.run("--json", "deploy", "redeploy", first["id"], "--wait", "--timeout",
                         DEPLOY_TIMEOUT)
    second = json.loads(proc.stdout)
    assert second["id"] == first["id"], second
    assert second["state"] == "succeeded", second
    assert second["generation"] == 2, second
    assert second["secret_id"] == first["secret_id"], second
    assert second["secret_version"] > first["secret_version"], second
    t = targets_by_agent(second)[agent.id]
    assert t["generation"] == 2 and t["state"] == "verified", t
    assert t["seq"] > first_target["seq"], (t, first_target)
    # A stale report (the first generation's seq) is refused and changes nothing.
    stale = agent.request("POST", f"/v1/agent/jobs/{t['id']}/report",
                          {"seq": first_target["seq"], "state": "failed", "reason": "replayed"})
    assert_problem(stale, 409)
    assert admin.cli.json("deploy", "show", first["id"])["state"] == "succeeded"
    # Long polls are bounded: 0..60 seconds.
    assert_problem(agent.request("GET", "/v1/agent/jobs?wait=61"), 400)
    expect_served(agent, normalize_serial(cert["serial"]), "after the redeploy")
    assert agent.live_pair_matches()
    rows = admin.cli.json("inventory", "--agent", agent.id)["items"]
    assert [r["secret_version"] for r in rows] == [second["secret_version"]], rows

    # A fresh passphrase: both versions exist and differ.
    base = f"/v1/agent/secrets/{first['secret_id']}?version="
    old = agent.request("GET", base + str(first["secret_version"]))
    new = agent.request("GET", base + str(second["secret_version"]))
    assert old.status == 200 and new.status == 200, (old, new)
    assert old.json()["value"] != new.json()["value"]

    human = admin.cli("deploy", "redeploy", first["id"], "--wait", "--timeout",
                      DEPLOY_TIMEOUT).stdout
    assert re.search(r"^generation:\s+3$", human, re.M), human


def test_late_agent_receives_current_generation(tenant, agents):
    account, admin = tenant
    early = agents(account, {"env": "dev"})
    cert = request_cert(admin.cli)
    _, dep = deploy_wait(admin.cli, cert["id"], account)
    assert dep["state"] == "succeeded", dep

    late = agents(account, {"env": "dev", "role": "web"})  # more tags: still matches env=dev
    done = wait_deployment(
        admin.cli, dep["id"],
        lambda d: targets_by_agent(d).get(late.id, {}).get("state") == "verified",
        "the late agent to be deployed to", [late])
    assert set(targets_by_agent(done)) == {early.id, late.id}
    expect_served(late, normalize_serial(cert["serial"]), "on the late agent")


def test_offline_agent_gets_newest_generation_once(tenant, agents):
    """An agent that is down while a deployment is made and redeployed receives only the newest
    generation, once, when it comes back."""
    account, admin = tenant
    agent = agents(account, {"env": "dev"})
    assert agent.stop() == 0
    cert = request_cert(admin.cli)
    dep = admin.cli.json(*deploy_args(cert["id"], account))
    assert dep["state"] == "running", dep
    again = admin.cli.json("deploy", "redeploy", dep["id"])
    assert again["generation"] == 2, again

    mark = len(agent.log_text())
    agent.start()
    done = wait_deployment(admin.cli, dep["id"], lambda d: d["state"] != "running",
                           "the returning agent to converge", [agent])
    assert done["state"] == "succeeded", done
    t = targets_by_agent(done)[agent.id]
    assert t["generation"] == 2 and t["state"] == "verified", t
    expect_served(agent, normalize_serial(cert["serial"]), "after coming back")
    since = agent.log_text()[mark:]
    received = [ln for ln in since.splitlines() if '"job received"' in ln and dep["id"] in ln]
    assert len(received) == 1, "\n".join(received)


def test_agent_certificate_renewal_over_mtls(server, tenant, agents, workdir):
    """POST /v1/agent/renew with the agent's client certificate is refused while more than a
    third of its lifetime remains (409, rule agent.renew_early; issue #13). The renewal itself
    (a new certificate for the same agent, every issued one still identifying it) runs in
    test_revocation.py on a server whose test clock can move into the last third."""
    account, admin = tenant
    agent = agents(account, {"env": "dev"})
    csr_path = os.path.join(agent.base, "renew.csr")
    subprocess.run(["openssl", "req", "-new", "-key", agent.key_path, "-subj", "/CN=ignored",
                    "-out", csr_path], check=True, capture_output=True)
    with open(csr_path) as f:
        resp = agent.request("POST", "/v1/agent/renew", {"csr": f.read()})
    doc = assert_problem(resp, 409)
    assert "agent.renew_early" in doc["detail"], doc
    # Nothing changed: the agent's certificate still identifies it.
    assert normalize_serial(admin.cli.json("agent", "show", agent.id)["cert_serial"]) == \
        file_serial(agent.cert_path)
    assert agent.request("GET", "/v1/agent/jobs?wait=0").status == 200


def test_server_refuses_unusable_agent_cert_validity(certfleetd_bin):
    ws = Workspace("certfleet-e2e-validity-")
    srv = Server(certfleetd_bin, ws.sub("data"))
    os.mkdir(srv.data_dir, 0o700)
    srv.port = _free_port()
    proc = subprocess.Popen([certfleetd_bin, "--data-dir", srv.data_dir, "--listen",
                             f"127.0.0.1:{srv.port}", "--agent-cert-validity", "30s"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        def exited_or_ready():
            if proc.poll() is not None:
                return "exited"
            try:
                if os.path.exists(srv.ca_path) and \
                        srv.request("GET", "/healthz", token=None, timeout=2).status == 200:
                    return "ready"
            except OSError:
                pass
            return None
        outcome = wait_until(exited_or_ready, 60, "certfleetd to exit or become ready")
        assert outcome == "exited" and proc.returncode != 0, \
            "certfleetd started with --agent-cert-validity 30s"
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        ws.cleanup()


# --- enrollment --------------------------------------------------------------------------------

def test_enrollment_token_reuse_is_409(server, tenant, agents, workdir):
    account, admin = tenant
    agent = agents(account, {"env": "dev"}, cli=admin.cli)
    reuse = server.request("POST", "/v1/agent/enroll",
                           {"token": agent.token, "csr": make_csr(workdir.path),
                            "hostname": "second-host"}, token=None)
    assert_problem(reuse, 409)
    assert "agent.enrollment_token_reused" in server.log_bytes().decode(errors="replace")

    # A second agent with the same token file does not enroll.
    twin = agents(account, {"env": "dev"}, start=False, nginx=False,
                  profiles={"files": {"installer": "files"}})
    twin.profiles["files"]["cert_dir"] = twin.root
    shutil.copy(agent.token_path, twin.token_path)
    twin.start(wait_enrolled=False)
    rc = twin.wait_exit(timeout=60)
    assert rc not in (0, -9) and not os.path.exists(twin.cert_path), twin.log_tail()
    ids = [a["id"] for a in admin.cli.json("agent", "list", "--account", account)["items"]]
    assert agent.id in ids and len(ids) == 1, ids

    tokens = admin.cli.json("agent", "token", "list", "--account", account)["items"]
    used = [t for t in tokens if t["id"] == agent.enrollment["id"]]
    assert used and used[0]["used_at"] and used[0]["used_by_agent"] == agent.id, tokens
    assert all("token" not in t for t in tokens), "the token list shows token values"

    # An unknown token: 401.
    assert_problem(server.request("POST", "/v1/agent/enroll",
                                  {"token": "cfe_" + "0" * 40, "csr": make_csr(workdir.path, "u"),
                                   "hostname": "x"}, token=None), 401)


def test_tags_come_from_the_token_only(server, tenant, cli, workdir):
    account, admin = tenant
    token = admin.cli("agent", "token", "create", "--account", account, "--tag", "env=dev")
    value = token.stdout.strip()
    assert re.fullmatch(r"cfe_\S+", value) and "\n" not in value, token.stdout
    resp = server.request("POST", "/v1/agent/enroll",
                          {"token": value, "csr": make_csr(workdir.path),
                           "hostname": "self-tagger", "tags": {"env": "prod", "role": "admin"}},
                          token=None)
    if resp.status == 201:
        assert resp.json()["tags"] == {"env": "dev"}, resp
        agent_id = resp.json()["agent_id"]
        assert admin.cli.json("agent", "show", agent_id)["tags"] == {"env": "dev"}
    else:
        assert_problem(resp, 400)


def test_hostile_hostname_is_data(server, tenant, workdir):
    """The host name an agent sends is its own claim: stored as data or refused, never run,
    and the CLI does not pass terminal escapes through."""
    account, admin = tenant
    marker = workdir.sub(f"pwned-{os.urandom(4).hex()}")
    value = admin.cli("agent", "token", "create", "--account", account,
                      "--tag", "env=dev").stdout.strip()
    hostile = f"web-1; touch {marker} $(touch {marker}) \x1b[31mred\x1b[0m"
    resp = server.request("POST", "/v1/agent/enroll",
                          {"token": value, "csr": make_csr(workdir.path), "hostname": hostile},
                          token=None)
    if resp.status == 201:
        agent_id = resp.json()["agent_id"]
        human = admin.cli("agent", "show", agent_id).stdout + admin.cli("agent", "list").stdout
        assert "\x1b" not in human, human
    else:
        assert_problem(resp, 400)
    assert not os.path.exists(marker)


def test_cli_validates_input(tenant):
    account, admin = tenant
    for args in (["agent", "token", "create", "--account", account, "--tag", "env"],
                 ["agent", "token", "create", "--account", account, "--tag", "=x"],
                 ["agent", "token", "create", "--account", account, "--tag", "a=1", "--tag",
                  "a=2"],
                 ["agent", "token", "create", "--account", account],
                 ["agent", "token", "create", "--account", account, "--tag", "e=d", "--expires",
                  "31d"],
                 ["deploy", "create", "--cert", "crt_x", "--profile", "nginx"],
                 ["deploy", "create", "--cert", "crt_x", "--profile", "nginx", "--selector",
                  "env"],
                 ["deploy", "create", "--cert", "crt_x", "--profile", "nginx", "--selector",
                  "env=dev", "--deadline", "10s"],
                 ["deploy", "create", "--cert", "crt_x", "--profile", "../x", "--selector",
                  "env=dev"],
                 ["inventory"],
                 ["inventory", "--cert", "crt_x", "--agent", "agt_x"]):
        proc = admin.cli(*args, check=False)
        assert proc.returncode == 2, (args, proc.returncode, proc.stderr)
