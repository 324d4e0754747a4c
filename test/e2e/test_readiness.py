"""Health, readiness and draining (issue #15; docs/api.md "Health and readiness"): the real
certfleetd. /healthz reports the store, /readyz whether a load balancer should send traffic here,
SIGTERM with --drain-period answers /readyz 503 and closes keep-alive connections while still
serving, and a write that finds the database locked by another process answers 503 with
Retry-After and a problem document that names nothing internal, then succeeds once it is free."""

import http.client
import json
import os
import signal
import sqlite3
import time

import pytest

from conftest import READY_POLL_S, STOP_TIMEOUT_S, Server, Workspace, unique_name


def _get(server, path, conn=None):
    """GET without a token; with `conn`, on that (keep-alive) connection."""
    own = conn is None
    if own:
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=30,
                                           context=server.ssl_context())
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        if own:
            conn.close()


def _wait_for(what, predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}", pytrace=False)
        time.sleep(READY_POLL_S)  # bounded poll of an endpoint


@pytest.fixture
def draining_server(certfleetd_bin):
    """A certfleetd started with --drain-period 60s (the tests end the drain themselves)."""
    ws = Workspace("certfleet-e2e-data-")
    srv = Server(certfleetd_bin, ws.sub("data"))
    os.mkdir(srv.data_dir, 0o700)
    srv.extra_args += ["--drain-period", "60s"]
    try:
        yield srv.start()
    finally:
        try:
            srv.stop()
        finally:
            ws.cleanup()


def test_healthz_reports_the_store_and_readyz_the_replica(server):
    status, headers, body = _get(server, "/healthz")
    assert status == 200, body
    health = json.loads(body)
    assert health["status"] == "ok"
    assert health["store"]["ok"] is True
    assert health["store"]["schema_version"] == health["schema_version"] > 0
    assert health["store"]["latency_ms"] >= 0
    # Once started, the replica takes traffic: nothing but the answer in it.
    status, headers, body = _get(server, "/readyz")
    assert status == 200, body
    assert json.loads(body) == {"ready": True}
    for raw in (body, json.dumps(health).encode()):
        assert server.data_dir.encode() not in raw


def test_sigterm_drains_before_the_listener_closes(draining_server):
    srv = draining_server
    conn = http.client.HTTPSConnection("127.0.0.1", srv.port, timeout=30,
                                       context=srv.ssl_context())
    try:
        status, headers, _ = _get(srv, "/readyz", conn)
        assert status == 200 and headers.get("connection", "").lower() != "close", headers
        srv.proc.send_signal(signal.SIGTERM)

        def not_ready():
            status, headers, body = _get(srv, "/readyz")
            return (status, headers, body) if status == 503 else None
        status, headers, body = _wait_for("/readyz to answer 503 after SIGTERM", not_ready)
        assert headers["content-type"].startswith("application/problem+json"), headers
        assert int(headers["retry-after"]) >= 1, headers
        doc = json.loads(body)
        assert doc["ready"] is False and doc["reason"] == "draining", doc
        # Still serving while the balancer notices; each answer closes its connection, so
        # keep-alive clients reconnect (through the balancer, to another replica).
        status, headers, body = _get(srv, "/healthz", conn)
        assert status == 200, body
        assert headers.get("connection", "").lower() == "close", headers
        resp = srv.request("GET", "/v1/certificates")
        assert resp.status == 200, resp
        assert srv.proc.poll() is None, "stopped before the drain period"
        assert b"certfleetd draining" in srv.log_bytes()
    finally:
        conn.close()
    # A second signal ends the drain at once (60 s were asked for).
    started = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(timeout=STOP_TIMEOUT_S) == 0, srv.log_tail()
    assert time.monotonic() - started < 20, "the second SIGTERM did not end the drain"
    srv.proc = None
    assert b"the drain ends now" in srv.log_bytes()


def test_a_locked_database_answers_503_with_retry_after(server):
    """Another process holds SQLite's write lock longer than the busy timeout (5 s): a write
    answers 503 with Retry-After, its detail names neither the database nor the file, reads and
    health go on, and the same write succeeds once the lock is gone."""
    body = {"name": unique_name("locked"), "domains": ["locked.example.test"],
            "exportable": False}
    holder = sqlite3.connect(server.db_path, timeout=30, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # WAL: the write lock; readers go on
        resp = server.request("POST", "/v1/certificates", body)
        assert resp.status == 503, resp
        assert resp.headers["content-type"].startswith("application/problem+json"), resp.headers
        assert 1 <= int(resp.headers["retry-after"]) <= 10, resp.headers
        doc = resp.json()
        assert doc["type"] == "urn:certfleet:problem:unavailable", doc
        assert "retry in" in doc["detail"], doc
        text = resp.body.decode().lower()
        for internal in ("sqlite", "locked", "certfleet.db", server.data_dir.lower()):
            assert internal not in text, (internal, doc)
        assert server.request("GET", "/v1/certificates").status == 200
        assert _get(server, "/healthz")[0] == 200
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    resp = server.request("POST", "/v1/certificates", body)
    assert resp.status == 201, resp
