"""Lists that scale (issue #17): GET /v1/certificates pages with an opaque cursor and never cuts
the listing silently; `certfleet cert list` follows the cursors, or shows one page with --limit
and says on stderr how to get the rest; --csv exports the filtered inventory (docs/api.md,
"Pagination")."""

import http.client
import json
import re
import threading
import time

import pytest

from conftest import assert_problem, list_all, unique_name

COUNT = 1059  # past the old silent cut at 1,000
THREADS = 6


@pytest.fixture(scope="module")
def fleet(server):
    """COUNT certificates issued through the API over a few keep-alive connections; even ones
    tagged env=prod, odd ones env=dev. Returns their ids."""
    prefix = unique_name("lst")
    token = server.token()
    ids, errors = [], []
    lock = threading.Lock()

    def worker(first):
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=60,
                                           context=server.ssl_context())
        try:
            for n in range(first, COUNT, THREADS):
                body = json.dumps({"name": f"{prefix}-{n}",
                                   "domains": [f"{prefix}-{n}.example.test"],
                                   "tags": {"env": "prod" if n % 2 == 0 else "dev"}})
                conn.request("POST", "/v1/certificates", body=body,
                             headers={"Authorization": f"Bearer {token}",
                                      "Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                with lock:
                    if resp.status != 201:
                        errors.append((resp.status, data[:300]))
                        return
                    ids.append(json.loads(data)["id"])
        finally:
            conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert len(ids) == COUNT
    print(f"issued {COUNT} certificates in {time.monotonic() - started:.1f}s")
    return ids


def test_api_pages_reach_every_certificate_once(server, fleet):
    started = time.monotonic()
    items = list_all(server, "/v1/certificates?limit=100")
    print(f"listed {len(items)} certificates in 100-item pages in "
          f"{time.monotonic() - started:.2f}s")
    got = [c["id"] for c in items]
    assert len(got) == len(set(got)) == COUNT
    assert set(got) == set(fleet)
    by_expiry = list_all(server, "/v1/certificates?limit=1000&sort=not_after")
    assert [c["not_after"] for c in by_expiry] == sorted(c["not_after"] for c in by_expiry)
    assert {c["id"] for c in by_expiry} == set(fleet)
    first = server.request("GET", "/v1/certificates")
    assert len(first.json()["items"]) == 100 and first.json()["next_cursor"]


def test_cli_all_json_returns_every_certificate(cli, fleet):
    for args in (("cert", "list", "--all"), ("cert", "list")):  # the default follows cursors too
        started = time.monotonic()
        listed = cli.json(*args)
        print(f"certfleet --json {' '.join(args)}: {len(listed['items'])} certificates in "
              f"{time.monotonic() - started:.2f}s")
        assert listed["next_cursor"] is None
        assert sorted(c["id"] for c in listed["items"]) == sorted(fleet), args


def test_cli_limit_shows_one_page_and_says_more_exist(cli, fleet):
    proc = cli("cert", "list", "--limit", "10")
    lines = proc.stdout.splitlines()
    assert re.match(r"ID\s+NAME\s+STATUS", lines[0]), lines[0]
    assert len(lines) == 11, proc.stdout
    m = re.search(r"showing 10 certificates, and more exist: use --all .* --cursor (\S+) ",
                  proc.stderr)
    assert m, proc.stderr
    page2 = cli.json("cert", "list", "--limit", "10", "--cursor", m.group(1))
    assert len(page2["items"]) == 10 and page2["next_cursor"]
    assert not {c["id"] for c in page2["items"]} & {line.split()[0] for line in lines[1:]}


def test_cli_csv_exports_the_filtered_inventory(cli, fleet):
    out = cli("cert", "list", "--csv").stdout
    rows = out.splitlines()
    assert len(rows) == COUNT + 1
    assert rows[0].startswith("id,name,account,domains,issuer,status,key_type,profile,serial,")
    assert "BEGIN" not in out and "PRIVATE" not in out
    prod = cli("cert", "list", "--csv", "--tag", "env=prod").stdout.splitlines()
    assert len(prod) == (COUNT + 1) // 2 + 1
    assert all("env=prod" in row for row in prod[1:])


def test_filters_and_bad_parameters(server, cli, fleet):
    dev = list_all(server, "/v1/certificates?limit=1000&tag=env:dev&status=issued")
    assert len(dev) == COUNT // 2 and all(c["tags"]["env"] == "dev" for c in dev)
    one = fleet[0]
    name = next(c["name"] for c in list_all(server, "/v1/certificates?limit=1000")
                if c["id"] == one)
    hits = cli.json("cert", "list", "--domain", name.upper() + ".EXAMPLE")["items"]
    assert [c["id"] for c in hits] == [one]
    for query, needle in (("limit=-1", '"limit"'), ("limit=0", '"limit"'),
                          ("cursor=bogus", "invalid cursor"), ("colour=red", '"colour"'),
                          ("expires_before=soon", '"expires_before"')):
        doc = assert_problem(server.request("GET", "/v1/certificates?" + query), 400)
        assert needle in doc["detail"], (query, doc)
    proc = cli("cert", "list", "--limit", "0", check=False)
    assert proc.returncode != 0
