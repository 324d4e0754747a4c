"""The web console in a real browser (issue #17, docs/console.md): certfleetd serves the built
console (`--ui-dir build/ui-dist`, made by `make ui`), and console/drive.mjs drives Debian's
headless Chromium through playwright-core (ui/node_modules) against it.

The data is real: certificates from the internal CA in a tenant account (one page more than the
console shows at once, varied lifetimes and tags, one revoked), two agents with nginx, and one
rollout of an exportable certificate that is verified on one host and rolled back on the other
(its nginx -t pins the old certificate, as in test_deploy.py). The drive logs in, checks what each
page shows against what was made here, renews and revokes from the detail view, and checks the
rules: an auditor sees no action buttons and the API refuses them anyway, a forged cross-site POST
is refused, an ended session goes back to the login. It writes a PNG of every page to
build/e2e-output/console/ (CERTFLEET_CONSOLE_OUT overrides) and prints the dashboard's first
paint and the certificate table's page load times.
"""

import json
import os
import shutil
import subprocess

import pytest

from agents import AgentFactory, wait_until
from conftest import create_account, create_principal, serve

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
UI_DIST = os.environ.get("CERTFLEET_UI_DIR", os.path.join(REPO, "build", "ui-dist"))
UI_NODE_MODULES = os.path.join(REPO, "ui", "node_modules")
OUT_DIR = os.environ.get("CERTFLEET_CONSOLE_OUT", os.path.join(REPO, "build", "e2e-output",
                                                                "console"))
CHROMIUM = "/usr/bin/chromium"
NODE = shutil.which("node") or "/usr/bin/node"
DRIVE = os.path.join(os.path.dirname(__file__), "console", "drive.mjs")
DRIVE_TIMEOUT_S = 120.0
PAGE_SIZE = 50  # ui/src/pages/certificates.js
# Validities of the plain certificates, in days: 2 expire within 7 days, 3 within 30.
VALIDITIES = [3, 5, 10, 20, 25] + [40 + i for i in range(PAGE_SIZE - 1)]
DEPLOY_CONVERGE_S = 120.0


def _require_tools():
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (scripts/install-deps.sh test)")
    for path, what in ((os.path.join(UI_DIST, "index.html"), "the built console"),
                       (os.path.join(UI_NODE_MODULES, "playwright-core"), "ui/node_modules")):
        if not os.path.exists(path):
            pytest.fail(f"{what} is missing at {path}: run `make ui` first", pytrace=False)


@pytest.fixture(scope="module")
def server(certfleetd_bin):
    """certfleetd serving the console; exports (the deployment) use a cheap PBKDF2 count."""
    _require_tools()
    # The drive moves the test clock last, to expire the session.
    yield from serve(certfleetd_bin, "certfleet-e2e-console-",
                     ["--pkcs8-iterations", "10000", "--ui-dir", UI_DIST], test_clock=0)


@pytest.fixture
def agents(server, cli, workdir):
    factory = AgentFactory(server, cli, workdir)
    yield factory
    failures = factory.teardown()
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


def _named_host(agent, hostname):
    """Runs the agent in its own UTS namespace with `hostname` (as root: unshare(1)), so that
    the two agents on this one machine show different hosts; otherwise both keep the machine's
    name and the drive tells them apart by agent id alone."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return
    wrapper = os.path.join(agent.base, "agent-in-uts-ns.sh")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\n"
                f"exec unshare --uts /bin/sh -c 'hostname \"$0\" && exec \"$@\"' {hostname} "
                f"{agent.binary} \"$@\"\n")
    os.chmod(wrapper, 0o755)
    agent.binary = wrapper


def _api(server, method, path, token, body=None, status=200):
    resp = server.request(method, path, body=body, token=token)
    assert resp.status == status, (method, path, resp)
    return resp.json() if resp.body else None


def _make_fleet(server, cli, workdir, agents):
    """The tenant's data; returns what the drive expects to see."""
    account = create_account(cli)["id"]
    admin = create_principal(cli, workdir, account, "admin")
    auditor = create_principal(cli, workdir, account, "auditor")
    token = admin.token()

    def request(name, days, tags, exportable=False):
        body = {"name": name, "domains": [f"{name}.example.test"], "validity": f"{days}d",
                "renew_before": "1h", "tags": tags, "exportable": exportable}
        cert = _api(server, "POST", "/v1/certificates", token, body, status=201)
        assert cert["status"] == "issued", cert
        return cert

    plain = [request(f"web{i:02d}", days, {"env": "prod" if i % 3 == 0 else "dev"})
             for i, days in enumerate(VALIDITIES)]
    revoked = plain[-1]
    _api(server, "POST", f"/v1/certificates/{revoked['id']}/revoke", token,
         {"reason": "superseded"})
    to_revoke = plain[-2]  # revoked from the console
    deployed = request("shop", 60, {"env": "prod", "team": "shop"}, exportable=True)
    _api(server, "POST", f"/v1/certificates/{deployed['id']}/export", token, {})

    # Two agents with nginx; the second one's `nginx -t` pins its old certificate, so the new
    # files fail the test and the agent rolls back (test_deploy.py's
    # test_nginx_t_failure_rolls_back).
    ok_agent = agents(account, {"env": "prod"}, cli=admin.cli, start=False)
    _named_host(ok_agent, "web-a")
    ok_agent.start()
    bad_agent = agents(account, {"env": "prod"}, cli=admin.cli, start=False)
    _named_host(bad_agent, "web-b")
    n = bad_agent.nginx.start()
    pinned = os.path.join(bad_agent.base, "pinned-old.pem")
    shutil.copy(n.cert_path, pinned)
    test_conf = n.write_config(os.path.join(n.prefix, "test.conf"), cert_path=pinned)
    bad_agent.profiles["nginx"]["test"] = n.test_argv(conf=test_conf)
    bad_agent.start()
    dep = _api(server, "POST", "/v1/deployments", token,
               {"certificate": deployed["id"], "selector": {"env": "prod"}, "profile": "nginx"},
               status=201)

    def finished():
        d = _api(server, "GET", f"/v1/deployments/{dep['id']}", token)
        return d if d["state"] not in ("running",) else None
    dep = wait_until(finished, DEPLOY_CONVERGE_S, "the rollout to finish",
                     lambda: ok_agent.log_tail(10) + bad_agent.log_tail(10))
    assert dep["state"] == "failed", dep
    targets = {t["agent"]: t for t in dep["targets"]}
    assert targets[ok_agent.id]["state"] == "verified", dep
    bad = targets[bad_agent.id]
    assert bad["state"] == "rolled_back" and bad["reason"], dep

    hostnames = {a["id"]: a["hostname"] for a in _api(server, "GET", "/v1/agents", token)["items"]}
    certs = plain + [deployed]
    by_status = {"issued": len(certs) - 1, "revoked": 1, "pending": 0, "failed": 0, "expired": 0}
    prod = [c for c in certs if c["tags"].get("env") == "prod"]
    soonest_prod = min(prod, key=lambda c: c["not_after"])
    return {
        "admin_token": token,
        "auditor_token": auditor.token(),
        "expect": {
            "total": len(certs),
            "by_status": by_status,
            "lt_7d": sum(1 for d in VALIDITIES[:-1] if d < 7),
            "agents": 2,
            "deployments_failed": 1,
            "page_size": PAGE_SIZE,
            "domain_filter": "web0",
            "domain_matches": sum(1 for c in certs if "web0" in c["domains"][0]),  # < PAGE_SIZE
            "tag_filter": "env:prod",
            "tag_matches": len(prod),
            "soonest_tagged": soonest_prod["name"],
            "deployed_id": deployed["id"],
            "deployed_name": deployed["name"],
            "exported_name": deployed["name"],
            "revoke_id": to_revoke["id"],
            "ok_agent": ok_agent.id,
            "failing_agent": bad_agent.id,
            "failing_reason": bad["reason"],
            "hosts": hostnames,
        },
    }


def test_console_in_a_browser(server, cli, workdir, agents):
    fleet = _make_fleet(server, cli, workdir, agents)
    os.makedirs(OUT_DIR, exist_ok=True)
    config = {"base": server.url, "ui_node_modules": UI_NODE_MODULES, "out_dir": OUT_DIR,
              "chromium": CHROMIUM, "clock_file": server.clock_file, **fleet}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": workdir.sub("home"),
           "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
    os.makedirs(env["HOME"], exist_ok=True)
    proc = subprocess.run([NODE, DRIVE], input=json.dumps(config), capture_output=True,
                          text=True, timeout=DRIVE_TIMEOUT_S, env=env, cwd=workdir.sub("home"))
    assert proc.returncode == 0, f"drive.mjs exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"drive.mjs printed no result:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    result = json.loads(lines[-1])
    print(f"console checks: {len(result['checks'])}, timings: {json.dumps(result['timings'])}")
    print(f"screenshots in {OUT_DIR}")
    assert not result["failures"], "\n".join(result["failures"]) + "\n" + server.log_tail(20)
    # Every page was shot, and the measurements were taken.
    shots = {os.path.basename(p) for p in result["screenshots"]}
    for page in ("login", "dashboard", "certificates", "certificate", "certificate-renewed",
                 "certificate-auditor", "deployments", "agents", "audit", "reports"):
        assert f"{page}.png" in shots, shots
    t = result["timings"]
    assert t["dashboard_rendered_ms"] and t["dashboard_rendered_ms"] > 0, t
    assert len(t["cert_page_load_ms"]) == 2, t
    # The API decides, whatever the console shows: the auditor's token may not renew.
    resp = server.request("POST", f"/v1/certificates/{fleet['expect']['deployed_id']}/renew",
                          body={}, token=fleet["auditor_token"])
    assert resp.status == 403, resp
