"""certfleetd behind a real HAProxy that sends the PROXY protocol (issue #15).

One certfleetd started with `--trusted-proxy 127.0.0.1/32` (HAProxy connects to it from
127.0.0.1) and a low `--max-connections-per-address`, its listener certificate naming the
balancer (`server_names` in its configuration file), behind HAProxy in the shape of
deploy/haproxy/certfleet.cfg with send-proxy-v2 and PROXY health checks. Clients connect to HAProxy
from other loopback addresses (127.0.0.2, 127.0.0.3), so the address certfleetd records tells
whether it read the header:
- the audit trail's source, the failed-authentication sampling and the access log carry the
  client's address as HAProxy saw it, not HAProxy's;
- the per-address limit counts each client behind HAProxy, not HAProxy;
- a direct connection from an address that is no trusted proxy is plain TLS (and a PROXY header
  from it is never believed); one from the trusted proxy's address without a header is closed;
- the listener certificate carries the configured names, so clients verify the balancer's name.

Skipped when haproxy is not installed.
"""

import http.client
import json
import os
import re
import secrets
import socket
import ssl
import struct

import pytest

from agents import wait_until
from conftest import (DEFAULT_SERVER_CONFIG, Haproxy, Server, Workspace, require_haproxy,
                      unique_name)

PROXY_ADDRESS = "127.0.0.1"  # where HAProxy connects to certfleetd from (the default source)
CLIENT_A = "127.0.0.2"
CLIENT_B = "127.0.0.3"
PER_ADDRESS = 3  # --max-connections-per-address
SERVER_NAMES = ("certfleet.example.test", "192.0.2.10")
TIMEOUT_S = 30.0


class Env:
    def __init__(self, server, lb):
        self.server = server
        self.lb = lb


@pytest.fixture(scope="module")
def env(certfleetd_bin):
    require_haproxy()
    ws = Workspace("certfleet-e2e-proxy-")
    srv = Server(certfleetd_bin, ws.sub("data"))
    os.mkdir(srv.data_dir, 0o700)
    # 127.0.0.1 is HAProxy's: a connection from it without a PROXY header is closed, so the
    # harness's own requests (readiness, tokens) come from 127.0.0.2, directly.
    srv.client_source = CLIENT_A
    # Top-level keys before the tables of the default configuration (TOML scoping).
    srv.config = "server_names = [{}]\n".format(", ".join(f'"{n}"' for n in SERVER_NAMES)) + \
        DEFAULT_SERVER_CONFIG
    srv.extra_args += ["--trusted-proxy", f"{PROXY_ADDRESS}/32",
                       "--max-connections-per-address", str(PER_ADDRESS)]
    lb = None
    try:
        srv.start()
        os.mkdir(ws.sub("haproxy"))
        lb = Haproxy(ws.sub("haproxy"), [("127.0.0.1", srv.port)], check="readyz",
                     send_proxy=True, inter_ms=200)
        lb.start()
        lb.wait_up()
        yield Env(srv, lb)
    finally:
        try:
            if lb is not None:
                lb.stop()
        finally:
            try:
                srv.stop()
            finally:
                ws.cleanup()


def _context(server):
    return ssl.create_default_context(cafile=server.ca_path)


def via_lb(env, method, path, source, body=None, token="admin"):
    """One HTTPS request through HAProxy from loopback address `source`; (status, JSON body)."""
    headers = {"Accept": "application/json"}
    if token == "admin":
        token = env.server.token()
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn = http.client.HTTPSConnection("127.0.0.1", env.lb.port, timeout=TIMEOUT_S,
                                       context=_context(env.server), source_address=(source, 0))
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, (json.loads(raw) if raw else None)
    finally:
        conn.close()


def tls_via_lb(env, source, server_hostname="127.0.0.1"):
    """A TLS connection to certfleetd through HAProxy from `source`, verified against certfleetd's
    CA for `server_hostname`; raises if certfleetd closes it instead."""
    raw = socket.create_connection(("127.0.0.1", env.lb.port), timeout=TIMEOUT_S,
                                   source_address=(source, 0))
    try:
        return _context(env.server).wrap_socket(raw, server_hostname=server_hostname)
    except BaseException:
        raw.close()
        raise


def healthz(sock):
    """GET /healthz on an open keep-alive connection; the status line."""
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: certfleet\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed by the server")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(rest) < length:
        rest += sock.recv(4096)
    return head.split(b"\r\n", 1)[0].decode()


def refused(connect):
    """Whether the connection `connect()` makes is closed by the server: during the handshake, or
    (TLS 1.3 may finish the client's side first) at its first request."""
    try:
        sock = connect()
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    try:
        healthz(sock)
        return False
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    finally:
        sock.close()


def request_log(server):
    """The access log: certfleetd's "request" lines (JSON) as dicts."""
    lines = []
    for line in server.log_bytes().decode("utf-8", "replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("msg") == "request":
            lines.append(entry)
    return lines


def audit(env, resource):
    status, body = via_lb(env, "GET", f"/v1/audit?resource={resource}", CLIENT_A)
    assert status == 200, body
    return body["items"]


def metric(server, name, labels=""):
    """One sample of certfleetd's /metrics (asked directly, from 127.0.0.2)."""
    r = server.request("GET", "/metrics", timeout=TIMEOUT_S)
    assert r.status == 200, r
    m = re.search(re.escape(f"{name}{labels} ").encode() + rb"(\d+)", r.body)
    assert m, (name, labels)
    return int(m.group(1))


# --- tests -------------------------------------------------------------------------------------

def test_audit_and_access_log_record_the_client_haproxy_saw(env):
    name = unique_name("proxied")
    status, account = via_lb(env, "POST", "/v1/accounts", CLIENT_A, body={"name": name})
    assert status == 201, account
    records = wait_until(lambda: audit(env, account["id"]), TIMEOUT_S, "the account's record")
    sources = {r["source"] for r in records}
    assert all(re.fullmatch(r"127\.0\.0\.2:\d+", s) for s in sources), records

    # The access log names the client for the same request, and never HAProxy's address.
    posts = [e for e in request_log(env.server)
             if e.get("path") == "/v1/accounts" and e.get("method") == "POST"]
    assert posts and all(e["remote"].startswith(f"{CLIENT_A}:") for e in posts), posts

    # Failed authentications are sampled per source address and minute: two clients behind the
    # same HAProxy are two sources, each recorded with its own address.
    target = f"/v1/certificates/crt_{secrets.token_hex(8)}"
    for source in (CLIENT_A, CLIENT_B):
        status, problem = via_lb(env, "GET", target, source, token="cf_wrong_" + "0" * 32)
        assert status == 401, problem
    failed = wait_until(lambda: [r for r in audit(env, target) if r["action"] == "auth.failed"],
                        TIMEOUT_S, "auth.failed records")
    hosts = sorted(r["source"].rsplit(":", 1)[0] for r in failed)
    assert hosts == [CLIENT_A, CLIENT_B], failed


def test_per_address_limit_counts_each_client_behind_haproxy(env):
    refused_before = metric(env.server, "certfleet_connections_refused_total",
                            '{limit="max_connections_per_address"}')
    held = []
    try:
        for _ in range(PER_ADDRESS):
            sock = tls_via_lb(env, CLIENT_A)
            held.append(sock)
            assert healthz(sock).startswith("HTTP/1.1 200"), "a connection within the limit"
        # 127.0.0.2 has its share: one more from it is closed by certfleetd...
        assert refused(lambda: tls_via_lb(env, CLIENT_A)), "over the per-address limit"
        # ...while another client, through the same HAProxy (which now holds more connections to
        # certfleetd than the limit), is served.
        other = tls_via_lb(env, CLIENT_B)
        try:
            assert healthz(other).startswith("HTTP/1.1 200")
        finally:
            other.close()
        for sock in held:
            assert healthz(sock).startswith("HTTP/1.1 200"), "an earlier connection stopped"
    finally:
        for sock in held:
            sock.close()
    # Closed connections give the client's slots back (once certfleetd has seen the closes).
    wait_until(lambda: not refused(lambda: tls_via_lb(env, CLIENT_A)), TIMEOUT_S,
               "a connection from 127.0.0.2 after closing the others")
    assert metric(env.server, "certfleet_connections_refused_total",
                  '{limit="max_connections_per_address"}') > refused_before


def _proxy_v2(source_ip, source_port):
    header = b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", 12)
    return header + socket.inet_aton(source_ip) + socket.inet_aton("127.0.0.1") + struct.pack(
        "!HH", source_port, 8443)


def test_direct_connections_are_plain_tls_unless_from_a_trusted_proxy(env):
    srv = env.server
    # From 127.0.0.2, no trusted proxy: served directly, as itself.
    assert srv.request("GET", "/v1/accounts", timeout=TIMEOUT_S).status == 200
    direct = [e for e in request_log(srv) if e.get("path") == "/v1/accounts"
              and e.get("method") == "GET"]
    assert direct and direct[-1]["remote"].startswith(f"{CLIENT_A}:"), direct[-1:]

    # A PROXY header from 127.0.0.2 is not believed: it is fed to TLS, and the handshake fails.
    def spoof():
        raw = socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT_S,
                                       source_address=(CLIENT_A, 0))
        raw.sendall(_proxy_v2("203.0.113.9", 4242))
        try:
            return _context(srv).wrap_socket(raw, server_hostname="127.0.0.1")
        except BaseException:
            raw.close()
            raise
    assert refused(spoof)
    assert b"203.0.113.9" not in srv.log_bytes()

    # From 127.0.0.1, the trusted proxy's address, a connection without a PROXY header is closed
    # (a TLS ClientHello is no header), and counted.
    refused_before = metric(srv, "certfleet_proxy_header_refused_total")

    def bare():
        raw = socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT_S,
                                       source_address=(PROXY_ADDRESS, 0))
        try:
            return _context(srv).wrap_socket(raw, server_hostname="127.0.0.1")
        except BaseException:
            raw.close()
            raise
    assert refused(bare)
    assert metric(srv, "certfleet_proxy_header_refused_total") > refused_before
    # HAProxy's own health checks (PROXY LOCAL) kept the server in rotation throughout.
    assert env.lb.server_states() == {"r1": "UP"}


def test_listener_certificate_names_the_balancer(env):
    # Clients dial the balancer's name (here through HAProxy on loopback) and verify certfleetd's
    # certificate for it against certfleetd's CA.
    for name in SERVER_NAMES:
        sock = tls_via_lb(env, CLIENT_B, server_hostname=name)
        try:
            sans = sock.getpeercert()["subjectAltName"]
            assert healthz(sock).startswith("HTTP/1.1 200")
        finally:
            sock.close()
    assert ("DNS", "certfleet.example.test") in sans, sans
    assert ("IP Address", "192.0.2.10") in sans, sans
    assert ("IP Address", "127.0.0.1") in sans, sans  # the listener's own address stays
    # A name not configured does not verify.
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_via_lb(env, CLIENT_B, server_hostname="other.example.test").close()
