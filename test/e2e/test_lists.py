"""Lists that scale beyond certificates (issue #17, docs/api.md "Pagination"): the agent and
audit lists page with an opaque cursor and filter on the server, and `certfleet ... list` follows
the cursors (--all, the default), or shows one page with --limit and says on stderr how to get
the rest."""

import re

import pytest

from agents import make_csr
from conftest import Cli, Workspace, assert_problem, create_account, list_all

AGENTS = 23  # three pages of 10


@pytest.fixture(scope="module")
def fleet(server, certfleet_bin):
    """An account of its own with AGENTS enrolled agents (tag env=prod for even n, dev for odd),
    enrolled over the API without running them. Returns (account id, agent ids)."""
    workdir = Workspace("certfleet-e2e-lists-")
    account = create_account(Cli(certfleet_bin, server), claims=())["id"]
    ids = []
    for n in range(AGENTS):
        env = "prod" if n % 2 == 0 else "dev"
        token = server.request("POST", "/v1/agents/enrollment-tokens",
                               {"account": account, "tags": {"env": env}})
        assert token.status == 201, token
        enrolled = server.request("POST", "/v1/agent/enroll",
                                  {"token": token.json()["token"],
                                   "csr": make_csr(workdir.path, f"lst{n}"),
                                   "hostname": f"web-{n}.example"}, token=None)
        assert enrolled.status == 201, enrolled
        ids.append(enrolled.json()["agent_id"])
    yield account, ids
    workdir.cleanup()


def test_agent_list_follows_cursors_and_filters(cli, fleet):
    account, ids = fleet
    listed = cli.json("agent", "list", "--account", account, "--all")
    assert listed["next_cursor"] is None
    assert sorted(a["id"] for a in listed["items"]) == sorted(ids)
    assert cli.json("agent", "list", "--account", account)["items"] == listed["items"]
    prod = cli.json("agent", "list", "--account", account, "--tag", "env=prod", "--limit", "5",
                    "--all")["items"]
    assert len(prod) == (AGENTS + 1) // 2 and all(a["tags"]["env"] == "prod" for a in prod)
    web1 = cli.json("agent", "list", "--account", account, "--hostname", "WEB-1")["items"]
    assert sorted(a["hostname"] for a in web1) == ["web-1.example"] + [
        f"web-{n}.example" for n in range(10, 20)]
    online = cli.json("agent", "list", "--account", account, "--online")["items"]
    offline = cli.json("agent", "list", "--account", account, "--offline")["items"]
    assert len(online) + len(offline) == AGENTS


def test_agent_list_limit_shows_one_page_and_says_more_exist(cli, fleet):
    account, ids = fleet
    proc = cli("agent", "list", "--account", account, "--limit", "10")
    lines = proc.stdout.splitlines()
    assert len(lines) == 11, proc.stdout  # the header and ten agents
    m = re.search(r"showing 10 agents, and more exist: use --all .* --cursor (\S+) ", proc.stderr)
    assert m, proc.stderr
    seen = {line.split()[0] for line in lines[1:]}
    page2 = cli.json("agent", "list", "--account", account, "--limit", "10", "--cursor",
                     m.group(1))
    assert len(page2["items"]) == 10 and page2["next_cursor"]
    page3 = cli.json("agent", "list", "--account", account, "--limit", "10", "--cursor",
                     page2["next_cursor"])
    assert len(page3["items"]) == AGENTS - 20 and page3["next_cursor"] is None
    got = seen | {a["id"] for a in page2["items"] + page3["items"]}
    assert got == set(ids)


def test_audit_list_pages_and_filters(server, cli, fleet):
    account, ids = fleet
    enrolls = cli.json("audit", "list", "--account", account, "--action", "agent.enroll",
                       "--all")["items"]
    assert sorted(r["resource"] for r in enrolls) == sorted(ids)
    seqs = [r["seq"] for r in enrolls]
    assert seqs == sorted(seqs)  # by sequence, oldest first
    by_type = cli.json("audit", "list", "--account", account, "--resource-type", "agt",
                       "--limit", "7", "--all")["items"]
    assert {r["resource"] for r in by_type} >= set(ids)
    proc = cli("audit", "list", "--account", account, "--action", "agent.enroll", "--limit", "5")
    m = re.search(r"showing 5 audit records, and more exist: .* --cursor (\S+) ", proc.stderr)
    assert m, proc.stderr
    rest = list_all(server, f"/v1/audit?account={account}&action=agent.enroll&limit=9")
    assert [r["seq"] for r in rest] == seqs
    for query, needle in (("limit=0", '"limit"'), ("cursor=bogus", "invalid cursor"),
                          ("colour=red", '"colour"'), ("since=yesterday", '"since"'),
                          ("action=a&action=b", '"action"')):
        doc = assert_problem(server.request("GET", "/v1/audit?" + query), 400)
        assert needle in doc["detail"], (query, doc)
    # An agents' cursor does not continue the audit list.
    agents_page = server.request("GET", f"/v1/agents?account={account}&limit=1").json()
    doc = assert_problem(server.request(
        "GET", "/v1/audit?cursor=" + agents_page["next_cursor"]), 400)
    assert "invalid cursor" in doc["detail"]
