"""The example HAProxy configuration, deploy/haproxy/certfleet.cfg (issue #15).

`haproxy -c` accepts it as shipped. Then it runs, with only its addresses, socket path and
process settings replaced (render_example), in front of three small TLS servers on loopback, each
with its own certificate, that answer GET /readyz as certfleetd does and read the PROXY protocol
header HAProxy sends first. Through it:
- TLS passes through: each client sees the backend's own certificate, and the backend sees the
  client's certificate (agents' mutual TLS reaches certfleetd);
- every connection to a backend starts with a PROXY v2 header: the client's address for client
  connections, LOCAL for HAProxy's own health checks (what certfleetd --trusted-proxy expects);
- connections are spread over the three (leastconn);
- a stopped backend and a backend whose /readyz answers 503 are taken out of rotation, and come
  back when they recover;
- when no backend is ready (a PostgreSQL outage), connections still reach the backends that
  accept TLS, so that certfleetd can answer 503 with Retry-After itself.

certfleetd is not needed. Skipped only when haproxy or openssl is not installed.
"""

import http.client
import http.server
import ipaddress
import json
import os
import re
import socket
import ssl
import struct
import threading

import pytest

from conftest import Haproxy, Workspace, require_haproxy, run_tool

EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy", "haproxy",
                       "certfleet.cfg")
CLIENT_CN = "agent-e2e"
REQUEST_TIMEOUT_S = 30.0  # a connection may wait for HAProxy's retry and redispatch
# The example checks every 2 s (1 s once a check has failed), fall 2, rise 2: a state change takes
# about 4 s. The bound leaves room for a loaded machine.
STATE_TIMEOUT_S = 30.0


# --- certificates ------------------------------------------------------------------------------

class Pki:
    """A test CA, one server certificate per backend (CN backend-N, SAN IP 127.0.0.1) and a client
    certificate (CN agent-e2e), made with the openssl command line, P-256 keys."""

    def __init__(self, directory, backends):
        self.dir = directory
        self.ca = self._path("ca.pem")
        self.ca_key = self._path("ca.key")
        run_tool("openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:P-256", "-nodes", "-keyout", self.ca_key, "-out", self.ca,
                 "-subj", "/CN=certfleet e2e haproxy CA", "-days", "2",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        self.servers = [self._leaf(f"backend-{i}", "serverAuth", "IP:127.0.0.1")
                        for i in range(1, backends + 1)]
        self.client = self._leaf(CLIENT_CN, "clientAuth", None)

    def _path(self, name):
        return os.path.join(self.dir, name)

    def _leaf(self, cn, usage, san):
        key, csr, cert = self._path(f"{cn}.key"), self._path(f"{cn}.csr"), self._path(f"{cn}.pem")
        ext = self._path(f"{cn}.ext")
        with open(ext, "w") as f:
            f.write(f"basicConstraints=critical,CA:FALSE\nextendedKeyUsage={usage}\n")
            if san:
                f.write(f"subjectAltName={san}\n")
        run_tool("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={cn}")
        run_tool("openssl", "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
                 "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", cert)
        return cert, key


# --- backends ----------------------------------------------------------------------------------

PROXY_V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def _recv_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed inside a PROXY header")
        data += chunk
    return data


def read_proxy_v2(sock):
    """The PROXY protocol v2 header at the start of `sock`, if the first byte says one is there
    (a TLS ClientHello starts with 0x16, a v2 header with CR): ("LOCAL", None) for HAProxy's own
    connections, ("PROXY", (client ip, port)) for relayed TCP ones, or (None, None) without a
    header. Reads exactly the header's bytes, so TLS starts where it ends. A stand-in for
    certfleetd's reader (src/net/proxy_protocol.cc), which is strict where this one guesses."""
    first = sock.recv(1, socket.MSG_PEEK)
    if first != PROXY_V2_SIGNATURE[:1]:
        return None, None
    fixed = _recv_exactly(sock, 16)
    assert fixed[:12] == PROXY_V2_SIGNATURE, fixed
    ver_cmd, fam, length = struct.unpack("!BBH", fixed[12:])
    assert ver_cmd >> 4 == 2, fixed
    block = _recv_exactly(sock, length)
    if ver_cmd & 0xF == 0:
        return "LOCAL", None
    assert fam in (0x11, 0x21), fam  # TCP over IPv4 or IPv6
    size = 4 if fam == 0x11 else 16
    source = str(ipaddress.ip_address(block[:size]))
    (port,) = struct.unpack("!H", block[2 * size:2 * size + 2])
    return "PROXY", (source, port)


class _Handler(http.server.BaseHTTPRequestHandler):
    timeout = 10  # a client that stalls does not hold a thread for long

    def do_GET(self):
        backend = self.server.backend
        command, source = self.client_address[2], self.client_address[0]
        if self.path == "/readyz":
            backend.checks.append(self.headers.get("Host"))
            status = 200 if backend.ready else 503
            body = {"ready": backend.ready}
        else:
            status = 200
            peer = self.connection.getpeercert() or {}
            subject = dict(rdn[0] for rdn in peer.get("subject", ()))
            body = {"backend": backend.name, "client": subject.get("commonName"),
                    "proxy": command, "source": source}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass  # quiet: the assertions say what happened


class _TlsHttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, backend, context):
        self.backend = backend
        self.context = context
        super().__init__(address, _Handler)

    def finish_request(self, request, client_address):
        # In the connection's own thread, not in accept: the PROXY header (if HAProxy sent one),
        # then TLS (its handshake on the first read). The handler sees client_address as
        # (source ip, port, "PROXY" | "LOCAL" | None): the client's as the header names it.
        request.settimeout(_Handler.timeout)
        try:
            command, source = read_proxy_v2(request)
        except (OSError, ConnectionError):
            return
        self.backend.preambles.append(command)
        if source is None:
            source = client_address
        tls = self.context.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
        try:
            super().finish_request(tls, (source[0], source[1], command))
        finally:
            tls.close()


class TlsBackend:
    """An HTTPS server on 127.0.0.1 standing in for one certfleetd replica: GET /readyz answers
    200 or 503 (`ready`); any other GET answers {"backend": name, "client": client cert CN,
    "proxy": PROXY header command or None, "source": client address (the header's, if any)}.
    Client certificates from the test CA are asked for, not required, like certfleetd's
    listener. A PROXY v2 header before TLS is read if present; `preambles` lists each
    connection's header command (None: no header). stop() closes the port (connections are
    refused); start() opens the same port."""

    def __init__(self, name, cert, key, ca):
        self.name = name
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.context.load_verify_locations(ca)
        self.context.verify_mode = ssl.CERT_OPTIONAL
        self.ready = True
        self.checks = []  # Host header of each /readyz request
        self.preambles = []  # per connection: "PROXY", "LOCAL" or None (no PROXY header)
        self.port = 0
        self.httpd = None
        self.thread = None

    def start(self):
        self.httpd = _TlsHttpServer(("127.0.0.1", self.port), self, self.context)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name=self.name,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(timeout=10)
            self.httpd = None


# --- the example, made runnable on loopback ----------------------------------------------------

def render_example(text, port, stats_socket, backend_ports):
    """The example with the frontend bound to 127.0.0.1:`port`, server cfN sent to
    127.0.0.1:backend_ports[N-1], the runtime API at `stats_socket`, maxconn within this
    machine's descriptor limit, in the foreground logging to stderr rather than syslog, and
    (unless run as root) without chroot and user switch. Everything else is as shipped. Each
    replacement must match exactly as often as the example is written today, so that a changed
    example fails here rather than run half-replaced."""

    def sub(pattern, repl, expected):
        nonlocal text
        text, n = re.subn(pattern, repl, text, flags=re.M)
        assert n == expected, f"{pattern!r} matched {n} times in {EXAMPLE}, expected {expected}"

    sub(r"^(\s*)bind \S+$", rf"\g<1>bind 127.0.0.1:{port}", 1)
    for i, backend_port in enumerate(backend_ports, 1):
        # Each server is listed in certfleet_ready and in certfleet_alive.
        sub(rf"^(\s*server cf{i}) \S+:8443$", rf"\g<1> 127.0.0.1:{backend_port}", 2)
    sub(r"^(\s*)stats socket \S+ ", rf"\g<1>stats socket {stats_socket} ", 1)
    sub(r"^(\s*)maxconn \d+$", r"\g<1>maxconn 4000", 1)
    sub(r"^\s*daemon$\n", "", 1)
    sub(r"^(\s*)log /dev/log (.*)$", r"\g<1>log stderr format raw \g<2>", 1)  # into haproxy.log
    if os.geteuid() != 0:  # only root may chroot and switch users
        sub(r"^\s*(chroot|user|group) .*$\n", "", 3)
    return text


def _client_context(pki, with_cert=True):
    ctx = ssl.create_default_context(cafile=pki.ca)
    if with_cert:
        ctx.load_cert_chain(*pki.client)
    return ctx


def fetch(lb, pki, with_cert=True, source=None):
    """One HTTPS GET / through HAProxy on a new connection (from loopback address `source`, e.g.
    "127.0.0.2", if given), verified against the test CA; returns (CN of the certificate the
    client saw, the backend's answer)."""
    conn = http.client.HTTPSConnection("127.0.0.1", lb.port, timeout=REQUEST_TIMEOUT_S,
                                       context=_client_context(pki, with_cert),
                                       source_address=(source, 0) if source else None)
    try:
        conn.request("GET", "/")
        subject = dict(rdn[0] for rdn in conn.sock.getpeercert()["subject"])
        resp = conn.getresponse()  # HTTP/1.0: the connection closes after the body
        body = json.loads(resp.read())
        assert resp.status == 200, (resp.status, body)
        return subject["commonName"], body
    finally:
        conn.close()


def served_by(lb, pki, n):
    """The backend names that served `n` connections made one after the other."""
    names = []
    for _ in range(n):
        cn, body = fetch(lb, pki)
        assert cn == body["backend"], (cn, body)  # the backend's own certificate: passthrough
        names.append(body["backend"])
    return names


# --- tests -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def env():
    require_haproxy()
    if run_tool("openssl", "version", check=False).returncode != 0:
        pytest.skip("openssl is not installed (Debian package openssl)")
    ws = Workspace("certfleet-e2e-haproxy-cfg-")
    pki = Pki(ws.path, 3)
    backends = []
    lb = None
    try:
        for i, (cert, key) in enumerate(pki.servers, 1):
            backends.append(TlsBackend(f"backend-{i}", cert, key, pki.ca).start())
        with open(EXAMPLE) as f:
            example = f.read()
        ports = [b.port for b in backends]
        lb = Haproxy(ws.path,
                     render=lambda port, sock: render_example(example, port, sock, ports))
        lb.start()
        yield lb, backends, pki
    finally:
        try:
            if lb is not None:
                lb.stop()
        finally:
            for b in backends:
                b.stop()
            ws.cleanup()


def test_example_config_is_valid():
    require_haproxy()
    proc = run_tool("haproxy", "-c", "-f", EXAMPLE, check=False)
    out = (proc.stdout + proc.stderr).decode(errors="replace")
    assert proc.returncode == 0, out
    assert "Configuration file is valid" in out, out
    # Nothing the example relies on draws a warning either (a warning is a config HAProxy fixed up).
    assert "[WARNING]" not in out, out


def test_passthrough_spreads_connections_and_carries_client_certificates(env):
    lb, backends, pki = env
    lb.wait_servers("UP", backend="certfleet_ready", timeout=STATE_TIMEOUT_S)
    lb.wait_servers("UP", backend="certfleet_alive", timeout=STATE_TIMEOUT_S)
    names = {b.name for b in backends}

    # The health checks are HAProxy's own TLS connections asking GET /readyz, each after a PROXY
    # v2 LOCAL header (both backends' checks).
    for b in backends:
        assert b.checks and set(b.checks) == {"certfleet"}, (b.name, b.checks[:5])
        assert "LOCAL" in b.preambles, (b.name, b.preambles[:5])

    # The client's certificate reaches the backend: HAProxy did not terminate TLS.
    cn, body = fetch(lb, pki)
    assert body["client"] == CLIENT_CN and cn == body["backend"], body
    cn, body = fetch(lb, pki, with_cert=False)
    assert body["client"] is None, body

    # The PROXY v2 header names the client as HAProxy saw it: here one connecting from 127.0.0.2
    # (HAProxy itself connects to the backends from 127.0.0.1).
    cn, body = fetch(lb, pki, source="127.0.0.2")
    assert body["proxy"] == "PROXY" and body["source"] == "127.0.0.2", body
    assert body["client"] == CLIENT_CN and cn == body["backend"], body
    # No connection to a backend went without a header.
    for b in backends:
        assert set(b.preambles) <= {"PROXY", "LOCAL"}, (b.name, b.preambles)

    # leastconn: three connections held open at once land on three different backends.
    ctx = _client_context(pki)
    held = []
    try:
        for _ in range(3):
            raw = socket.create_connection(("127.0.0.1", lb.port), timeout=REQUEST_TIMEOUT_S)
            held.append(ctx.wrap_socket(raw, server_hostname="127.0.0.1"))
        seen = [dict(rdn[0] for rdn in s.getpeercert()["subject"])["commonName"] for s in held]
    finally:
        for s in held:
            s.close()
    assert sorted(seen) == sorted(names), seen

    # Connections one after the other go round the backends (leastconn among equals).
    assert set(served_by(lb, pki, 9)) == names


def test_stopped_backend_leaves_rotation_and_returns(env):
    lb, backends, pki = env
    lb.wait_servers("UP", timeout=STATE_TIMEOUT_S)
    b2 = backends[1]
    # Until the checks notice that a replica is gone (a few seconds), HAProxy still sends it
    # connections. Pausing cf2's checks holds that window open: each connection sent to the
    # stopped backend is refused and redispatched to another one (option redispatch), and no
    # client sees a failure.
    lb.command("disable health certfleet_ready/cf2")
    b2.stop()
    try:
        redispatched = int(lb.stat("certfleet_ready", "cf2")["wredis"])
        assert set(served_by(lb, pki, 6)) == {"backend-1", "backend-3"}
        assert int(lb.stat("certfleet_ready", "cf2")["wredis"]) > redispatched
        # With its checks running, the stopped backend leaves the rotation of both backends.
        lb.command("enable health certfleet_ready/cf2")
        lb.wait_servers({"cf2": "DOWN"}, backend="certfleet_ready", timeout=STATE_TIMEOUT_S)
        lb.wait_servers({"cf2": "DOWN"}, backend="certfleet_alive", timeout=STATE_TIMEOUT_S)
        assert set(served_by(lb, pki, 6)) == {"backend-1", "backend-3"}
    finally:
        lb.command("enable health certfleet_ready/cf2")
        b2.start()  # same port
    lb.wait_servers("UP", backend="certfleet_ready", timeout=STATE_TIMEOUT_S)
    lb.wait_servers("UP", backend="certfleet_alive", timeout=STATE_TIMEOUT_S)
    assert "backend-2" in served_by(lb, pki, 6)


def test_not_ready_backend_leaves_rotation_and_all_not_ready_falls_back(env):
    lb, backends, pki = env
    b1, b2, b3 = backends
    lb.wait_servers("UP", timeout=STATE_TIMEOUT_S)
    try:
        # One replica not ready (starting, draining, or cut off from its database): out of the
        # ready backend, still alive.
        b3.ready = False
        lb.wait_servers({"cf3": "DOWN"}, backend="certfleet_ready", timeout=STATE_TIMEOUT_S)
        assert lb.server_states("certfleet_alive")["cf3"] == "UP"
        assert set(served_by(lb, pki, 6)) == {"backend-1", "backend-2"}

        # None ready, one of them also stopped: what a PostgreSQL outage looks like. Connections
        # go to the replicas that still accept TLS, which answer for themselves.
        b1.ready = False
        b2.ready = False
        b2.stop()
        lb.wait_servers("DOWN", backend="certfleet_ready", timeout=STATE_TIMEOUT_S)
        lb.wait_servers({"cf1": "UP", "cf2": "DOWN", "cf3": "UP"}, backend="certfleet_alive",
                        timeout=STATE_TIMEOUT_S)
        assert set(served_by(lb, pki, 6)) == {"backend-1", "backend-3"}
    finally:
        for b in backends:
            b.ready = True
        if b2.httpd is None:
            b2.start()
    # The database is back: every replica ready again, the ready backend takes over.
    lb.wait_servers("UP", backend="certfleet_ready", timeout=STATE_TIMEOUT_S)
    assert set(served_by(lb, pki, 6)) == {"backend-1", "backend-2", "backend-3"}


@pytest.mark.parametrize("balance,check,send_proxy", [("roundrobin", "readyz", False),
                                                      ("leastconn", "tcp", False),
                                                      ("leastconn", "readyz", True)])
def test_haproxy_fixture_config(env, haproxy, balance, check, send_proxy):
    # The configuration conftest.haproxy_config() writes for the replica tests, over the same
    # backends: passthrough, spread, (checked every 200 ms) a quick exit from rotation, and with
    # send_proxy the PROXY v2 header that certfleetd --trusted-proxy reads.
    _, backends, pki = env
    lb = haproxy([("127.0.0.1", b.port) for b in backends], balance=balance, check=check,
                 inter_ms=200, send_proxy=send_proxy)
    lb.wait_up()
    assert set(served_by(lb, pki, 9)) == {"backend-1", "backend-2", "backend-3"}
    cn, body = fetch(lb, pki, source="127.0.0.2")
    assert body["client"] == CLIENT_CN, body
    if send_proxy:
        assert body["proxy"] == "PROXY" and body["source"] == "127.0.0.2", body
    else:
        assert body["proxy"] is None and body["source"] == "127.0.0.1", body
    if check == "readyz":
        backends[0].ready = False
        try:
            lb.wait_servers({"r1": "DOWN"}, timeout=STATE_TIMEOUT_S)
            assert set(served_by(lb, pki, 6)) == {"backend-2", "backend-3"}
        finally:
            backends[0].ready = True
        lb.wait_up()
