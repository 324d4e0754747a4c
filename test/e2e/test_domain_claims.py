"""Domain claims (issue #13, docs/policy.md "Two layers", docs/api.md "Domain claims"): a system
admin assigns each account the names it may hold; a name outside the requesting account's claims
is refused (403, rule domain.unclaimed) from the internal CA, from ACME with http-01 on
certfleetd's own listener, and from ACME with http-01 answered by agents; a deployment of a
certificate whose claim was released is refused the same way. All through the real CLI, the real
certfleetd and certfleet-agent, Pebble and BIND9.
"""

import json
import re
import secrets

import pytest

import acme_servers
from agents import AgentFactory
from conftest import (assert_cli_denied, assert_problem, claim_domain, create_account,
                      create_principal, unique_name)
from test_acme_issuer import AcmeEnv


def _zone(prefix):
    return f"{prefix}-{secrets.token_hex(4)}"


def _request(cli, domains, issuer=None, check=True, wait=False):
    args = ["cert", "request", "--name", unique_name("dc"), "--exportable"]
    for d in domains:
        args += ["--domain", d]
    if issuer:
        args += ["--issuer", issuer]
    if wait:
        args += ["--wait", "--wait-timeout", "3m"]
    if not check:
        return cli("--json", *args, check=False)
    return cli.json(*args)


def _two_accounts(cli, workdir):
    """Accounts A and B without any claim, each with an admin."""
    a = create_account(cli, claims=())["id"]
    b = create_account(cli, claims=())["id"]
    return (a, create_principal(cli, workdir, a, "admin"),
            b, create_principal(cli, workdir, b, "admin"))


# --- the internal CA --------------------------------------------------------------------------

def test_other_account_cannot_get_claimed_names_from_the_internal_ca(cli, workdir):
    a, admin_a, b, admin_b = _two_accounts(cli, workdir)
    zone = f"{_zone('za')}.test"
    claim_domain(cli, a, zone, include_subdomains=True, shared=False)

    # B: the claimed name alone, and mixed with a name B may hold; nothing is created.
    claim_domain(cli, b, f"{_zone('zb')}.test", include_subdomains=False, shared=False)
    for domains in ([f"www.{zone}"], [f"*.{zone}"], [zone]):
        proc = _request(admin_b.cli, domains, check=False)
        assert_cli_denied(proc, 403, "domain.unclaimed")
        assert f'"{domains[0]}"' in proc.stderr, proc.stderr
    assert admin_b.cli.json("cert", "list")["items"] == []

    # A gets them, wildcard included (its claim includes subdomains).
    cert = _request(admin_a.cli, [zone, f"www.{zone}", f"*.{zone}"])
    assert cert["status"] == "issued", cert

    # Through the REST API: a problem document naming the rule and the name.
    resp = cli.server.request("POST", "/v1/certificates",
                              {"name": unique_name("api"), "domains": [f"api.{zone}"]},
                              token=admin_b.token())
    doc = assert_problem(resp, 403)
    assert "rule domain.unclaimed" in doc["detail"] and f"api.{zone}" in doc["detail"], doc


def test_the_system_account_stays_unrestricted(cli):
    # The bootstrap admin belongs to the system account "default": no claim is needed.
    cert = _request(cli, [f"{_zone('sys')}.unclaimed.test"])
    assert cert["status"] == "issued", cert


def test_overlapping_claims_conflict_unless_both_shared(cli, workdir):
    a, _, b, _ = _two_accounts(cli, workdir)
    zone = f"{_zone('ov')}.test"
    claim_domain(cli, a, zone, include_subdomains=True, shared=False)
    for domain, subdomains in ((zone, False), (f"deep.www.{zone}", False), (zone, True)):
        args = ["domain", "claim", "--account", b, "--domain", domain]
        if subdomains:
            args.append("--include-subdomains")
        proc = cli(*args, "--shared", check=False)
        assert proc.returncode == 1 and "(HTTP 409)" in proc.stderr, proc.stderr
        assert "shared" in proc.stderr, proc.stderr
    # Both shared: both may hold it.
    shared = f"{_zone('sh')}.test"
    claim_domain(cli, a, shared, include_subdomains=False, shared=True)
    claim_domain(cli, b, shared, include_subdomains=False, shared=True)


@pytest.mark.parametrize("domain", ["*.example.org", "192.0.2.10/8", "192.0.2.256", "org",
                                    "a..b.test", "-x.example.test", "bad_name.test",
                                    "x" * 64 + ".test"])
def test_invalid_names_are_a_clear_400(cli, workdir, domain):
    account = create_account(cli, claims=())["id"]
    resp = cli.server.request("POST", "/v1/domains", {"account": account, "domain": domain})
    doc = assert_problem(resp, 400)
    assert "domain" in doc["detail"], doc


def test_ip_claims_are_networks_and_conflict_when_they_overlap(cli, workdir):
    """IP claims (for the ACME server's IP identifiers, RFC 8738): an address is stored as a /32,
    and two accounts' overlapping networks conflict like overlapping names."""
    a = create_account(cli, claims=())["id"]
    b = create_account(cli, claims=())["id"]
    host = claim_domain(cli, a, "198.51.100.7", include_subdomains=False, shared=False)
    assert host["domain"] == "198.51.100.7/32", host
    net = claim_domain(cli, a, "2001:DB8:7::/48", include_subdomains=False, shared=False)
    assert net["domain"] == "2001:db8:7::/48", net
    for overlapping in ("198.51.100.0/24", "2001:db8:7:1::/64"):
        resp = cli.server.request("POST", "/v1/domains", {"account": b, "domain": overlapping})
        assert_problem(resp, 409)
    claim_domain(cli, b, "198.51.101.0/24", include_subdomains=False, shared=False)


def test_only_system_admins_claim_and_release(cli, workdir):
    a, admin_a, b, _ = _two_accounts(cli, workdir)
    zone = f"{_zone('own')}.test"
    proc = admin_a.cli("domain", "claim", "--account", a, "--domain", zone, check=False)
    assert_cli_denied(proc, 403, "role.insufficient")
    operator = create_principal(cli, workdir, a, "operator")
    proc = operator.cli("domain", "claim", "--account", a, "--domain", zone, check=False)
    assert_cli_denied(proc, 403)

    mine = claim_domain(cli, a, zone, shared=False)
    claim_domain(cli, b, f"{_zone('other')}.test", shared=False)
    # An account's own admin, operator and auditor see their account's claims only.
    auditor = create_principal(cli, workdir, a, "auditor")
    for who in (admin_a, operator, auditor):
        items = who.cli.json("domain", "list")["items"]
        assert [c["id"] for c in items] == [mine["id"]], items
    proc = admin_a.cli("domain", "list", "--account", b, check=False)
    assert_cli_denied(proc, 404)
    proc = admin_a.cli("domain", "release", mine["id"], check=False)
    assert_cli_denied(proc, 403, "role.insufficient")
    # The system admin sees every account's.
    ids = {c["id"] for c in cli.json("domain", "list")["items"]}
    assert mine["id"] in ids and len(ids) >= 2


def test_cli_outputs(cli, workdir):
    account = create_account(cli, claims=())
    zone = f"{_zone('cli')}.test"
    out = cli("domain", "claim", "--account", account["name"], "--domain", zone.upper() + ".",
              "--include-subdomains").stdout
    fields = dict(re.findall(r"^([a-z ]+):\s+(.*)$", out, re.M))
    assert fields["domain"] == zone, out
    assert fields["account"] == account["name"] and fields["account id"] == account["id"], out
    assert fields["include subdomains"] == "yes" and fields["shared"] == "no", out
    assert fields["id"].startswith("dcl_"), out

    table = cli("domain", "list", "--account", account["id"]).stdout.splitlines()
    assert re.match(r"ID\s+ACCOUNT\s+DOMAIN\s+SUBDOMAINS\s+SHARED\s+CREATED AT$", table[0]), table
    assert len(table) == 2 and table[1].startswith(fields["id"] + " "), table
    assert zone in table[1] and account["name"] in table[1], table

    listed = cli.json("domain", "list", "--account", account["id"])
    assert [c["domain"] for c in listed["items"]] == [zone], listed
    claim = listed["items"][0]
    assert claim["include_subdomains"] is True and claim["shared"] is False, claim
    assert claim["account"] == account["id"] and claim["account_name"] == account["name"], claim

    # Release by --account and --domain (JSON), then the list is empty.
    released = cli.json("domain", "release", "--account", account["name"], "--domain", zone)
    assert released["id"] == fields["id"], released
    assert cli.json("domain", "list", "--account", account["id"])["items"] == []
    proc = cli("domain", "release", fields["id"], check=False)
    assert_cli_denied(proc, 404)
    proc = cli("domain", "release", check=False)
    assert proc.returncode == 2, proc


def test_released_claim_stops_deployment_and_renewal(cli, workdir):
    a, admin_a, _, _ = _two_accounts(cli, workdir)
    zone = f"{_zone('rel')}.test"
    claim = claim_domain(cli, a, zone, include_subdomains=True, shared=False)
    cert = _request(admin_a.cli, [f"app.{zone}"])
    dep = admin_a.cli.json("deploy", "create", "--cert", cert["id"], "--account", a, "--profile",
                           "nginx", "--selector", "env=dev")
    assert dep["id"].startswith("dep_"), dep

    cli("domain", "release", claim["id"])
    proc = admin_a.cli("deploy", "create", "--cert", cert["id"], "--account", a, "--profile",
                       "nginx", "--selector", "env=dev", check=False)
    assert_cli_denied(proc, 403, "domain.unclaimed")
    assert f"app.{zone}" in proc.stderr, proc.stderr
    proc = admin_a.cli("deploy", "redeploy", dep["id"], check=False)
    assert_cli_denied(proc, 403, "domain.unclaimed")
    proc = admin_a.cli("cert", "renew", cert["id"], check=False)
    assert_cli_denied(proc, 403, "domain.unclaimed")
    shown = admin_a.cli.json("cert", "show", cert["id"])
    assert "domain.unclaimed" in shown["status_detail"], shown

    # Claimed again, the same certificate deploys and renews.
    claim_domain(cli, a, zone, include_subdomains=True, shared=False)
    admin_a.cli.json("deploy", "redeploy", dep["id"])
    assert admin_a.cli.json("cert", "renew", cert["id"])["version"] == 2


# --- ACME through Pebble ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bind9():
    yield from acme_servers.running_bind9("certfleet-e2e-claims-bind-")


@pytest.fixture(scope="module")
def pebble(bind9):
    yield from acme_servers.running_pebble("certfleet-e2e-claims-pebble-", bind9)


class TwoTenants:
    """An AcmeEnv (account A, with its admin) plus account B with its own admin and its own ACME
    issuer on the same Pebble. A holds `zone_a` exclusively, B holds `zone_b`."""

    def __init__(self, env, suffix):
        self.env = env
        cli = env.cli
        self.zone_a = f"{_zone('za')}.{suffix}"
        self.zone_b = f"{_zone('zb')}.{suffix}"
        # AcmeEnv's account comes with the shared test claims; here A holds only its own zone.
        for claim in cli.json("domain", "list", "--account", env.account)["items"]:
            cli("domain", "release", claim["id"])
        claim_domain(cli, env.account, self.zone_a, include_subdomains=True, shared=False)
        self.b = create_account(cli, claims=())["id"]
        self.admin_b = create_principal(cli, env.ws, self.b, "admin")
        claim_domain(cli, self.b, self.zone_b, include_subdomains=True, shared=False)

    def issuer_for_b(self, name, solver_args):
        return self.admin_b.cli.json("issuer", "create", "acme", "--name", name, "--account",
                                     self.b, "--directory", self.env.pebble.directory_url,
                                     "--trust", self.env.trust, "--contact",
                                     "b@example.test", *solver_args)


def test_acme_http01_on_certfleetds_listener(certfleetd_bin, certfleet_bin, pebble, bind9):
    """certfleetd's --http01-listen is Pebble's httpPort. B cannot order A's name (refused before
    any order is placed); A can, and so can B for its own name: the listener answers each
    account's tokens under the names its own order named."""
    env = AcmeEnv(certfleetd_bin, certfleet_bin, pebble, bind9, http01=True)
    try:
        t = TwoTenants(env, "web.example.test")
        t.issuer_for_b("pebble", ["--solver", "http01:web.example.test"])
        target = f"www.{t.zone_a}"
        proc = _request(t.admin_b.cli, [target], issuer="pebble", check=False, wait=True)
        assert_cli_denied(proc, 403, "domain.unclaimed")
        assert t.admin_b.cli.json("cert", "list")["items"] == []

        cert = env.request([target])
        assert cert["status"] == "issued", cert
        env.assert_chains_to_pebble(cert["id"], [target])

        own = _request(t.admin_b.cli, [f"www.{t.zone_b}"], issuer="pebble", wait=True)
        assert own["status"] == "issued", own
    finally:
        env.close()


def test_acme_http01_answered_by_agents(certfleetd_bin, certfleet_bin, pebble, bind9):
    """http-01 through agents (agent-http01 solvers): B cannot order A's name; A's order is
    answered by A's agent only, though B's agent carries the same tags and listens on the same
    port; B's order for its own name is answered by B's agent."""
    env = AcmeEnv(certfleetd_bin, certfleet_bin, pebble, bind9, http01=False)
    env.agents = AgentFactory(env.server, env.admin.cli, env.ws)
    try:
        t = TwoTenants(env, "example.test")
        listen = {"listen": f"127.0.0.1:{pebble.http_port}"}
        agent_a = env.agents(env.account, {"role": "edge"}, start=False, nginx=False)
        agent_a.http01 = listen
        agent_a.start()
        agent_b = env.agents(t.b, {"role": "edge"}, start=False, nginx=False,
                             cli=t.admin_b.cli)
        agent_b.http01 = listen
        agent_b.start()
        for account, admin in ((env.account, env.admin), (t.b, t.admin_b)):
            admin.cli.json("solver", "create", "agent-http01", "--name", "edge", "--account",
                           account, "--timeout", "60s", "--selector", "role=edge")
        env.create_issuer("edge-ca", ["--solver", "edge"])
        t.issuer_for_b("edge-ca", ["--solver", "edge"])

        target = f"www.{t.zone_a}"
        proc = _request(t.admin_b.cli, [target], issuer="edge-ca", check=False, wait=True)
        assert_cli_denied(proc, 403, "domain.unclaimed")

        cert = env.request([target], issuer="edge-ca")
        assert cert["status"] == "issued", cert
        env.assert_chains_to_pebble(cert["id"], [target])
        log_a = open(agent_a.log_path, errors="replace").read()
        log_b = open(agent_b.log_path, errors="replace").read()
        assert "http-01 challenge" in log_a, log_a[-2000:]
        assert "http-01 challenge" not in log_b, log_b[-2000:]

        own = _request(t.admin_b.cli, [f"www.{t.zone_b}"], issuer="edge-ca", wait=True)
        assert own["status"] == "issued", own
        log_b = open(agent_b.log_path, errors="replace").read()
        assert "http-01 challenge" in log_b, log_b[-2000:]
    finally:
        failures = env.close()
    assert not failures, failures
