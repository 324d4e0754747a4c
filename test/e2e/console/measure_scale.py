#!/usr/bin/env python3
"""The console at fleet scale (issue #17: "first paint of the dashboard under 1 s, and the
certificate table's pages under 200 ms"): measures both in the test's headless Chromium over a
certfleetd holding N certificates (default 100,000). Not a test: a measurement, run by hand.

  cd test/e2e && CERTFLEET_BIN_DIR=... /usr/bin/python3 console/measure_scale.py [N]

It starts certfleetd on a fresh data dir with --ui-dir build/ui-dist, makes a tenant with one
certificate through the API, stops the server and copies that certificate's rows N-1 times in
SQLite (new ids, names, serials and expiries spread over 2..170 days, every 50th revoked, a
third tagged env:prod), starts the server again and runs console/drive.mjs in its measure-only
mode: login, the dashboard (first paint), the certificate table (five pages forward, one back,
each timed) and its filters. Prints the drive's JSON.
"""

import json
import os
import sqlite3
import subprocess
import sys
import time

E2E = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, E2E)

from conftest import (Cli, Server, Workspace, _find_binary, create_account,  # noqa: E402
                      create_principal)
import test_console as tc  # noqa: E402

DAY = 86400


def seed(db_path, template_id, n):
    """Copies the template certificate and its version n-1 times; returns nothing."""
    db = sqlite3.connect(db_path)
    cols = [r[1] for r in db.execute("PRAGMA table_info(certificates)")]
    vcols = [r[1] for r in db.execute("PRAGMA table_info(certificate_versions)")]
    over = {
        "id": "printf('crt_%026d', s.i)", "name": "'fleet-' || s.i",
        "domains": "json_array('h' || s.i || '.fleet.example.test')",
        "tags": "CASE WHEN s.i % 3 = 0 THEN '{\"env\":\"prod\"}' ELSE '{\"env\":\"dev\"}' END",
        "status": "CASE WHEN s.i % 50 = 0 THEN 'revoked' ELSE 'issued' END",
        "current_version_id": "printf('crv_%026d', s.i)",
        "created_at": "t.created_at + s.i", "updated_at": "t.updated_at + s.i",
    }
    vover = {
        "id": "printf('crv_%026d', s.i)", "certificate_id": "printf('crt_%026d', s.i)",
        "serial_hex": "printf('7f%038d', s.i)", "fingerprint_sha256": "printf('%064d', s.i)",
        "not_after": f"CAST(strftime('%s','now') AS INTEGER) + (2 + s.i % 168) * {DAY} + s.i % {DAY}",
    }
    seq = f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n - 1})"
    with db:
        db.execute(f"INSERT INTO certificates ({', '.join(cols)}) {seq} SELECT "
                   + ", ".join(over.get(c, f"t.{c}") for c in cols)
                   + " FROM s, certificates t WHERE t.id = ?", (template_id,))
        db.execute(f"INSERT INTO certificate_versions ({', '.join(vcols)}) {seq} SELECT "
                   + ", ".join(vover.get(c, f"t.{c}") for c in vcols)
                   + " FROM s, certificate_versions t WHERE t.certificate_id = ?", (template_id,))
    db.close()


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    ws = Workspace("certfleet-console-scale-")
    try:
        srv = Server(_find_binary("certfleetd"), ws.sub("data"))
        srv.extra_args = ["--ui-dir", tc.UI_DIST]
        os.mkdir(srv.data_dir, 0o700)
        srv.start()
        cli = Cli(_find_binary("certfleet"), srv)
        account = create_account(cli)["id"]
        admin = create_principal(cli, ws, account, "admin")
        token = admin.token()
        first = tc._api(srv, "POST", "/v1/certificates", token,
                        {"name": "fleet-0", "domains": ["h0.fleet.example.test"],
                         "validity": "90d", "renew_before": "1h", "tags": {"env": "prod"}},
                        status=201)
        srv.stop()
        seed(srv.db_path, first["id"], n)
        srv.start()
        t0 = time.monotonic()
        counts = tc._api(srv, "GET", "/v1/counts", token)
        print(f"GET /v1/counts right after the start: {1000 * (time.monotonic() - t0):.0f} ms")
        t0 = time.monotonic()
        tc._api(srv, "GET", "/v1/counts", token)
        print(f"GET /v1/counts again: {1000 * (time.monotonic() - t0):.0f} ms")
        soonest = tc._api(srv, "GET", "/v1/certificates?tag=env:prod&sort=not_after&limit=1",
                          token)["items"][0]
        c = counts["certificates"]
        page = tc.PAGE_SIZE
        expect = {"total": c["total"], "by_status": c["by_status"],
                  "lt_7d": c["by_expiry"]["lt_7d"], "agents": 0, "page_size": page,
                  "page_clicks": 5, "dashboard_loads": 5, "domain_filter": "fleet", "domain_matches": page,
                  "tag_filter": "env:prod", "tag_matches": page,
                  "soonest_tagged": soonest["name"], "deployments_failed": 0}
        config = {"base": srv.url, "ui_node_modules": tc.UI_NODE_MODULES, "measure_only": True,
                  "out_dir": ws.sub("shots"), "chromium": tc.CHROMIUM, "admin_token": token,
                  "expect": expect}
        proc = subprocess.run([tc.NODE, tc.DRIVE], input=json.dumps(config), text=True,
                              capture_output=True, timeout=300)
        print(proc.stdout.strip() or proc.stderr[-3000:])
        srv.stop()
    finally:
        ws.cleanup()


if __name__ == "__main__":
    main()
