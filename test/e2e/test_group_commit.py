"""Group commit keeps every acknowledged certificate (issue #14 item 1): concurrent clients issue
certificates, certfleetd is killed with SIGKILL while they do, and after a restart on the same
data directory every certificate it answered 201 for is there, issued, with its certificate.

SIGKILL loses what the process held and had not yet committed to the database file: a
transaction released inside a batch whose COMMIT had not run. A group commit that answered a
member before its batch committed fails here. (What SIGKILL cannot show is an fsync skipped: the
kernel still writes the page cache out. synchronous=FULL, checked at start-up, covers that.)"""

import sqlite3
import threading

from conftest import unique_name

CLIENTS = 8
KILL_AFTER_ACKS = 120


def test_sigkill_under_load_loses_no_acknowledged_certificate(server_factory):
    srv = server_factory()
    token = srv.token()
    acked = {}  # id -> (name, serial)
    lock = threading.Lock()
    enough = threading.Event()
    errors = []

    def client(n):
        i = 0
        while True:
            name = unique_name(f"gc{n}-{i}")
            i += 1
            try:
                resp = srv.request("POST", "/v1/certificates",
                                   {"name": name, "domains": [f"{name}.example.test"],
                                    "exportable": True}, token=token, timeout=30)
            except OSError:
                return  # the server is gone: what it did not answer is not acknowledged
            if resp.status != 201:
                if not enough.is_set():
                    errors.append(resp)
                return
            doc = resp.json()
            with lock:
                acked[doc["id"]] = (name, doc["serial"])
                if len(acked) >= KILL_AFTER_ACKS:
                    enough.set()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    assert enough.wait(timeout=300), (len(acked), errors)
    srv._kill()  # SIGKILL, mid-load: requests are in flight on every client
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors[:3]
    with lock:
        acked_now = dict(acked)
    assert len(acked_now) >= KILL_AFTER_ACKS

    # The database is sound as left by the kill, before certfleetd touches it again.
    db = sqlite3.connect(f"file:{srv.db_path}?mode=ro", uri=True)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()

    srv.start(same_port=True)
    missing = []
    for cid, (name, serial) in acked_now.items():
        resp = srv.request("GET", f"/v1/certificates/{cid}", token=token)
        if resp.status != 200:
            missing.append((cid, resp.status))
            continue
        doc = resp.json()
        assert (doc["name"], doc["status"], doc["serial"], doc["version"]) == \
            (name, "issued", serial, 1), doc
    assert not missing, f"{len(missing)} of {len(acked_now)} acknowledged certificates lost: " \
                        f"{missing[:5]}"
    # The restarted server still issues, with serials not reused across the kill.
    serials = {serial for _, serial in acked_now.values()}
    assert len(serials) == len(acked_now)
    resp = srv.request("POST", "/v1/certificates",
                       {"name": unique_name("gc-after"), "domains": ["gc-after.example.test"]},
                       token=token)
    assert resp.status == 201, resp
    assert resp.json()["serial"] not in serials
