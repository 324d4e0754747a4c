"""Audit you can trust (issue #13, section 4), with the real certfleetd and CLI:

1. SIGKILL at every failpoint on the export path: afterwards the export record and its audit
   record either both exist or neither does (they commit in one transaction).
2. Someone with write access to the database but not the KEK rewrites an audit row and
   recomputes the unkeyed SHA-256 chain, as the scheme before keying computed it: `certfleet
   audit verify` still fails and names that record.
3. A tenant auditor's `audit list` and `audit verify` cover only its own account.
"""

import hashlib
import json
import os
import sqlite3
import struct
import subprocess

import pytest

from conftest import assert_cli_denied, create_account, create_principal, unique_name

# The export path, in order (src/lifecycle/export_service.cc, src/api/api_service.cc).
EXPORT_FAILPOINTS = [
    ("export.recorded", False),  # export row inserted, audit record not yet appended
    ("export.audited", False),  # both appended, not committed
    ("export.committed", True),  # committed, not answered
    ("api.before_response.certificate.export", True),  # recorded, answer not yet sent
]


def request_cert(cli):
    name = unique_name("web")
    return cli.json("cert", "request", "--name", name, "--domain", f"{name}.example.test",
                    "--exportable")


def export_rows(srv, cert_id):
    db = sqlite3.connect(f"file:{srv.db_path}?mode=ro", uri=True, timeout=30)
    try:
        return db.execute("SELECT id FROM exports WHERE certificate_id = ? AND allowed = 1",
                          (cert_id,)).fetchall()
    finally:
        db.close()


def export_audit_records(cli, cert_id):
    items = cli.json("audit", "list", "--all", "--resource", cert_id)["items"]
    return [r for r in items if r["action"] == "certificate.export" and r["outcome"] == "success"]


def test_export_and_its_audit_record_survive_a_kill_together(server_factory, cli_for):
    srv = server_factory()
    cli = cli_for(srv)
    cert = request_cert(cli)
    for failpoint, committed in EXPORT_FAILPOINTS:
        before_exports = len(export_rows(srv, cert["id"]))
        before_audit = len(export_audit_records(cli, cert["id"]))
        assert srv.stop() == 0
        srv.extra_env = {"CERTFLEET_FAILPOINT": failpoint}
        srv.start()
        try:
            resp = srv.request("POST", f"/v1/certificates/{cert['id']}/export", {})
            pytest.fail(f"{failpoint}: the server answered {resp.status} instead of dying")
        except OSError:
            pass  # killed mid-request: the connection drops
        except Exception as e:  # http.client errors on a dropped connection
            assert "Remote" in type(e).__name__ or "Incomplete" in type(e).__name__ or \
                "BadStatus" in type(e).__name__, repr(e)
        assert srv.proc.wait(timeout=60) == -9, f"{failpoint}: not killed by the failpoint"
        assert f'"{failpoint}"'.encode() in srv.log_bytes() or failpoint.encode() in srv.log_bytes()
        srv.proc = None
        srv.extra_env = {}
        srv.start()

        exports = len(export_rows(srv, cert["id"])) - before_exports
        audited = len(export_audit_records(cli, cert["id"])) - before_audit
        assert exports == audited, (failpoint, exports, audited)
        assert exports == (1 if committed else 0), (failpoint, exports)
    # And the trail is intact after four kills.
    assert cli.json("audit", "verify")["ok"] is True


# --- rewriting the trail without the key ---------------------------------------------------

def _field(value):
    data = value.encode()
    return struct.pack(">I", len(data)) + data


def unkeyed_canonical(r):
    """CanonicalBytes of src/audit/audit_log.cc, the scheme before keying (issue #3)."""
    out = b"certfleet audit v1"
    for v in (str(r["seq"]), r["id"], str(r["at"]), r["account_id"], r["principal_id"],
              r["action"], r["resource"], r["outcome"], str(r["status"]), r["source"],
              r["detail"]):
        out += _field(v)
    return out


def rewrite_with_unkeyed_chain(db_path, target_seq, claim_unkeyed):
    """Changes record `target_seq` and recomputes hash = SHA-256(prev_hash || canonical) from it
    on, over the global chain, then moves every chain head to match, as an attacker who knows the
    old scheme but has no key would."""
    db = sqlite3.connect(db_path)
    db.row_factory = sqlite3.Row
    rows = [dict(r) for r in db.execute("SELECT * FROM audit_records ORDER BY seq")]
    prev = "0" * 64
    heads = {}
    for r in rows:
        if r["seq"] == target_seq:
            r["detail"] = "nothing happened here"
            r["principal_id"] = ""
        if r["seq"] >= target_seq:
            r["prev_hash"] = prev
            r["hash"] = hashlib.sha256(prev.encode() + unkeyed_canonical(r)).hexdigest()
            scheme = "sha256" if claim_unkeyed else r["scheme"]
            db.execute("UPDATE audit_records SET detail=?, principal_id=?, prev_hash=?, hash=?, "
                       "scheme=? WHERE seq=?",
                       (r["detail"], r["principal_id"], r["prev_hash"], r["hash"], scheme,
                        r["seq"]))
        prev = r["hash"]
        heads[r["account_id"] or "system"] = f"{r['seq']}:{r['hash']}"
    db.execute("INSERT OR REPLACE INTO settings (key, value) VALUES ('audit.head', ?)",
               (f"{rows[-1]['seq']}:{prev}",))
    for chain, value in heads.items():
        db.execute("UPDATE settings SET value=? WHERE key=?", (value, f"audit.head:{chain}"))
    db.commit()
    db.close()


@pytest.mark.parametrize("claim_unkeyed", [False, True], ids=["keep-scheme", "claim-sha256"])
def test_rewritten_trail_with_recomputed_unkeyed_hashes_fails(server_factory, cli_for, workdir,
                                                              claim_unkeyed):
    srv = server_factory()
    cli = cli_for(srv)
    account = create_account(cli)["id"]
    operator = create_principal(cli, workdir, account, "operator")
    cert = request_cert(operator.cli)
    operator.cli("cert", "export", cert["id"], "--out", workdir.sub("out"))
    create_account(cli)
    assert cli.json("audit", "verify")["ok"] is True
    exported = [r for r in cli.json("audit", "list", "--all")["items"]
                if r["action"] == "certificate.export"]
    assert len(exported) == 1, exported
    target = exported[0]["seq"]

    assert srv.stop() == 0
    rewrite_with_unkeyed_chain(srv.db_path, target, claim_unkeyed)
    srv.start()

    proc = cli("audit", "verify", check=False)
    assert proc.returncode == 1, proc
    assert f"audit chain broken at record {target}:" in proc.stderr, proc.stderr
    report = json.loads(cli("--json", "audit", "verify", check=False).stdout)
    assert report["ok"] is False and report["first_bad_seq"] == target, report
    # The account's own admin sees it in its chain too.
    admin = create_principal(cli, workdir, account, "admin")
    report = json.loads(admin.cli("--json", "audit", "verify", check=False).stdout)
    assert report["ok"] is False and report["first_bad_seq"] == target, report


# --- tenant and system views -----------------------------------------------------------------

def test_tenant_auditor_lists_and_verifies_only_its_account(server_factory, cli_for, workdir):
    srv = server_factory()
    cli = cli_for(srv)
    a = create_account(cli)
    b = create_account(cli)
    admin_a = create_principal(cli, workdir, a["id"], "admin")
    admin_b = create_principal(cli, workdir, b["id"], "admin")
    auditor_a = create_principal(cli, workdir, a["id"], "auditor")
    request_cert(admin_a.cli)
    request_cert(admin_b.cli)
    request_cert(admin_b.cli)

    items = auditor_a.cli.json("audit", "list", "--all")["items"]
    assert items and {r["account"] for r in items} == {a["id"]}, items
    assert_cli_denied(auditor_a.cli("audit", "list", "--account", b["name"], check=False), 404)
    assert_cli_denied(auditor_a.cli("audit", "verify", "--account", b["id"], check=False), 404)
    mine = auditor_a.cli.json("audit", "verify")
    assert mine["ok"] is True and mine["scope"] == a["id"], mine
    assert mine["checked"] == len(items), (mine, len(items))
    assert auditor_a.cli("audit", "verify").stdout.startswith("audit chain ok")

    # The system auditor (an auditor of the system account) has the global view.
    sys_auditor = create_principal(cli, workdir, "default", "auditor")
    every = sys_auditor.cli.json("audit", "list", "--all")["items"]
    assert {a["id"], b["id"]} <= {r["account"] for r in every}, every
    report = sys_auditor.cli.json("audit", "verify")
    assert report["ok"] is True and report["scope"] == "all", report
    only_b = sys_auditor.cli.json("audit", "verify", "--account", b["name"])
    assert only_b["ok"] is True and only_b["scope"] == b["id"], only_b

    # Damage one of b's records: a's verification does not see b's records at all, so it passes;
    # b's and the global one name the record.
    b_seq = [r["seq"] for r in every if r["account"] == b["id"]][-1]
    assert srv.stop() == 0
    subprocess.run(["sqlite3", srv.db_path,
                    f"UPDATE audit_records SET detail='x' WHERE seq={b_seq}"],
                   check=True, timeout=60, capture_output=True)
    srv.start()
    assert auditor_a.cli.json("audit", "verify")["ok"] is True
    for who in (admin_b.cli, sys_auditor.cli):
        proc = who("audit", "verify", check=False)
        assert proc.returncode == 1 and f"broken at record {b_seq}:" in proc.stderr, proc.stderr


# --- the audit key follows the KEK -------------------------------------------------------------

def test_audit_key_is_rewrapped_when_the_kek_rotates(server_factory, cli_for):
    srv = server_factory()
    cli = cli_for(srv)
    create_account(cli)
    before = cli.json("audit", "verify")
    assert before["ok"] is True, before
    assert srv.stop() == 0

    db = sqlite3.connect(srv.db_path)
    (blob_id,) = db.execute("SELECT value FROM settings WHERE key = 'audit.key_blob'").fetchone()
    (old_kek,) = db.execute("SELECT kek_id FROM sealed_blobs WHERE id = ?", (blob_id,)).fetchone()
    db.close()
    rotated = subprocess.run([srv.binary, "--data-dir", srv.data_dir, "--rotate-kek"],
                             capture_output=True, text=True, timeout=120,
                             stdin=subprocess.DEVNULL)
    assert rotated.returncode == 0, rotated.stderr
    db = sqlite3.connect(srv.db_path)
    (new_kek,) = db.execute("SELECT kek_id FROM sealed_blobs WHERE id = ?", (blob_id,)).fetchone()
    db.close()
    assert new_kek != old_kek
    # Without the retired KEK the key still opens, and the records written before verify.
    kek_d = f"{srv.data_dir}/kek.d"

    for name in os.listdir(kek_d):
        os.unlink(os.path.join(kek_d, name))
    srv.start()
    create_account(cli)
    after = cli.json("audit", "verify")
    assert after["ok"] is True and after["checked"] > before["checked"], after
