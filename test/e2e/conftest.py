"""Harness for the end-to-end tests: real certfleetd and certfleet binaries over loopback.

Environment:
  CERTFLEET_BIN_DIR  ':'-separated directories searched for `certfleetd` and `certfleet`
                     (CTest sets it to the two targets' output directories).

Every server runs in its own temporary data directory on a free loopback port, logs to a file
in that directory, and is stopped with SIGTERM at teardown. Temporary directories are removed
at teardown. Only the standard library and pytest are used.

For replicas (issue #15): `postgres` (a throwaway PostgreSQL 15 cluster per module, made by
test/harness/postgres.sh), `haproxy` (HAProxy in TCP passthrough in front of given backends,
shaped like deploy/haproxy/certfleet.cfg) and `replicas` (ReplicaSet: N certfleetd on one fresh
database of that cluster, each with its own data dir holding the first one's kek.key and ca.pem,
optionally behind a Haproxy whose address `front` stands in for a Server). Tests that need them
skip when the Debian packages postgresql or haproxy are missing (scripts/install-deps.sh test
installs both).
"""

import grp
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

# Bounds for everything that waits: nothing here sleeps to let time pass.
READY_TIMEOUT_S = 60.0  # first start generates the CA hierarchy
READY_POLL_S = 0.05
STOP_TIMEOUT_S = 30.0
CLI_TIMEOUT_S = 180.0  # RSA-4096 generation happens inside the request
PORT_ATTEMPTS = 5

# certfleetd.toml that Server writes into its data dir (0600) before every start (issue #13:
# private networks are server configuration). The tests' Pebble, BIND9 and webhook receivers
# listen on loopback, so every account may reach loopback; tests that check the policy set
# Server.config themselves (None: no --config at all).
DEFAULT_SERVER_CONFIG = """\
[[outbound.allow]]
accounts = ["*"]
networks = ["127.0.0.0/8", "::1/128"]
"""


def _find_binary(name):
    dirs = [d for d in os.environ.get("CERTFLEET_BIN_DIR", "").split(os.pathsep) if d]
    if not dirs:
        pytest.fail("CERTFLEET_BIN_DIR is not set (run through ctest, or export it)", pytrace=False)
    for d in dirs:
        path = os.path.join(d, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    pytest.fail(f"{name} not found in CERTFLEET_BIN_DIR={dirs}; build it first", pytrace=False)


@pytest.fixture(scope="session")
def certfleetd_bin():
    return _find_binary("certfleetd")


@pytest.fixture(scope="session")
def certfleet_bin():
    return _find_binary("certfleet")


def _free_port():
    # The kernel picks a free port; the server binds it a moment later. A collision in between
    # is detected by the server failing to start, and the caller retries with another port.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ApiResponse:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"ApiResponse({self.status}, {self.body[:300]!r})"


class Server:
    """One certfleetd process over a data directory. Restartable on the same directory."""

    def __init__(self, binary, data_dir):
        self.binary = binary
        self.data_dir = data_dir
        self.log_path = os.path.join(data_dir, "certfleetd.stderr.log")
        self.stdout_path = os.path.join(data_dir, "certfleetd.stdout.log")
        self.proc = None
        self.port = None
        self.extra_args = []  # more certfleetd flags, e.g. the KEK provider
        self.extra_env = {}  # e.g. {"CERTFLEET_FAILPOINT": "renewal.committed"}
        self.clock_file = None  # set by use_test_clock()
        self.config = DEFAULT_SERVER_CONFIG  # certfleetd.toml text; None: no --config
        # Loopback address request() connects from (e.g. "127.0.0.2" when 127.0.0.1 is a
        # --trusted-proxy, whose connections must start with a PROXY header); None: the default.
        self.client_source = None
        # The bootstrap admin token, when another data dir holds it (a replica started after
        # the first writes none: docs/high-availability.md).
        self.admin_token_file = None

    @property
    def config_path(self):
        return os.path.join(self.data_dir, "certfleetd.toml")

    def _config_args(self):
        if self.config is None:
            return []
        fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.config)
        return ["--config", self.config_path]

    # Paths the server creates on first start.
    @property
    def ca_path(self):
        return os.path.join(self.data_dir, "ca.pem")

    @property
    def token_path(self):
        return self.admin_token_file or os.path.join(self.data_dir, "admin.token")

    @property
    def db_path(self):
        return os.path.join(self.data_dir, "certfleet.db")

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.proc.pid

    def token(self):
        with open(self.token_path) as f:
            return f.read().strip()

    def log_bytes(self):
        with open(self.log_path, "rb") as f:
            return f.read()

    def log_tail(self, n=40):
        try:
            lines = self.log_bytes().decode("utf-8", "replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])

    def use_test_clock(self, offset_seconds, clock_file=None):
        """Runs certfleetd on its test clock (--test-clock-file): the system clock plus an offset
        in seconds that set_clock() moves while it runs. Call before start(). Replicas share
        one `clock_file` (default: next to the data dir)."""
        self.clock_file = clock_file or os.path.join(os.path.dirname(self.data_dir), "test-clock")
        self._write_clock(offset_seconds)
        self.extra_args += ["--test-clock-file", self.clock_file]

    def _write_clock(self, offset_seconds):
        tmp = self.clock_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{int(offset_seconds)}\n")
        os.replace(tmp, self.clock_file)  # the server never reads half a number

    def set_clock(self, offset_seconds):
        """Moves the running server's clock to system time + offset_seconds and waits until it
        has taken the new offset (it logs every move)."""
        assert self.clock_file, "use_test_clock() first"
        seen = self.clock_moves(offset_seconds)
        self._write_clock(offset_seconds)
        self.wait_clock(offset_seconds, seen)

    def clock_moves(self, offset_seconds):
        """How often the log says the clock moved to `offset_seconds` (for wait_clock)."""
        return self.log_bytes().count(f'"offset_seconds":"{int(offset_seconds)}"'.encode())

    def wait_clock(self, offset_seconds, seen):
        """Waits until the log has more than `seen` moves to `offset_seconds`."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while self.clock_moves(offset_seconds) <= seen:
            if time.monotonic() > deadline:
                pytest.fail("certfleetd did not take the test clock offset; log:\n"
                            + self.log_tail(), pytrace=False)
            time.sleep(READY_POLL_S)  # bounded poll: the server re-reads the file every 50 ms

    def start(self, same_port=False):
        """Starts certfleetd; `same_port` restarts it on the port of its previous run (agents
        keep their server URL across a restart)."""
        assert self.proc is None, "server already running"
        last = ""
        for _ in range(PORT_ATTEMPTS):
            if not (same_port and self.port):
                self.port = _free_port()
            env = _clean_env()
            env.update(self.extra_env)
            # Appending keeps the log of earlier runs on the same data dir (restart tests).
            with open(self.log_path, "ab") as err, open(self.stdout_path, "ab") as out:
                self.proc = subprocess.Popen(
                    [self.binary, "--data-dir", self.data_dir,
                     "--listen", f"127.0.0.1:{self.port}", *self._config_args(),
                     *self.extra_args],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                    env=env, start_new_session=True)
            if self._wait_ready():
                return self
            rc = self.proc.poll()
            if rc is None:  # alive but never ready: not a port collision
                self._kill()
                pytest.fail(f"certfleetd not ready within {READY_TIMEOUT_S}s; log:\n"
                            + self.log_tail(), pytrace=False)
            self.proc = None
            last = self.log_tail()
            if "in use" not in last.lower():
                break
        pytest.fail(f"certfleetd exited during start-up (port {self.port}); log:\n{last}",
                    pytrace=False)

    def _wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if os.path.exists(self.ca_path):
                try:
                    if self.request("GET", "/healthz", token=None, timeout=2).status == 200:
                        return True
                except (OSError, ssl.SSLError, http.client.HTTPException):
                    pass  # not listening yet, or ca.pem half-written
            time.sleep(READY_POLL_S)  # bounded poll of a readiness endpoint
        return False

    def stop(self):
        """SIGTERM, wait; returns the exit status (or None if it was not running)."""
        proc, self.proc = self.proc, None
        return stop_process(proc, "certfleetd", self.log_tail)

    def _kill(self):
        kill_process(self.proc)
        self.proc = None

    def kill(self):
        """SIGKILL (a crash, for the failover tests) and wait; the exit status."""
        proc, self.proc = self.proc, None
        kill_process(proc)
        return proc.returncode if proc is not None else None

    def ssl_context(self):
        return ssl.create_default_context(cafile=self.ca_path)

    def request(self, method, path, body=None, token="admin", headers=None, timeout=CLI_TIMEOUT_S):
        """Raw HTTPS request. body: dict/list (JSON-encoded), bytes/str (sent as is) or None.
        token: "admin" for the admin token, None for no Authorization header, else the token."""
        h = {"Accept": "application/json"}
        if token == "admin":
            token = self.token()
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        if body is not None:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        source = (self.client_source, 0) if self.client_source else None
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                           context=self.ssl_context(), source_address=source)
        try:
            try:
                conn.request(method, path, body=body, headers=h)
            except (BrokenPipeError, ConnectionResetError):
                # The server may answer (e.g. 413) and close before reading the whole body.
                pass
            resp = conn.getresponse()
            data = resp.read()
            return ApiResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        finally:
            conn.close()


def stop_process(proc, name, log_tail):
    """SIGTERM a process started with start_new_session and wait; its exit status, or None if
    there was none. One that ignores SIGTERM is killed and fails the test."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=STOP_TIMEOUT_S)
            pytest.fail(f"{name} ignored SIGTERM for {STOP_TIMEOUT_S}s; log:\n" + log_tail(),
                        pytrace=False)
    return proc.returncode


def kill_process(proc):
    """SIGKILL a process group started with start_new_session, if it still runs."""
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=STOP_TIMEOUT_S)


def _clean_env():
    # Hermetic: no CERTFLEET_* settings leak in from the caller's shell.
    return {k: v for k, v in os.environ.items() if not k.startswith("CERTFLEET_")}


class Workspace:
    """A temporary directory removed at teardown."""

    def __init__(self, prefix):
        self.path = tempfile.mkdtemp(prefix=prefix)

    def sub(self, *parts):
        return os.path.join(self.path, *parts)

    def cleanup(self):
        shutil.rmtree(self.path, ignore_errors=True)


@pytest.fixture
def workdir():
    ws = Workspace("certfleet-e2e-work-")
    yield ws
    ws.cleanup()


@pytest.fixture
def server_factory(certfleetd_bin):
    """Starts extra servers (each with its own data dir); all are stopped and removed at teardown."""
    made = []

    def make():
        ws = Workspace("certfleet-e2e-data-")
        srv = Server(certfleetd_bin, ws.sub("data"))
        os.mkdir(srv.data_dir, 0o700)
        made.append((srv, ws))
        return srv.start()

    yield make
    for srv, ws in made:
        try:
            srv.stop()
        finally:
            ws.cleanup()


def serve(certfleetd_bin, prefix="certfleet-e2e-data-", extra_args=(), test_clock=None):
    """Generator for a module's server fixture: a certfleetd in a fresh workspace with
    `extra_args` (and the test clock at `test_clock` seconds when given), stopped and cleaned up
    afterwards. Use as `yield from serve(...)`."""
    ws = Workspace(prefix)
    srv = Server(certfleetd_bin, ws.sub("data"))
    srv.extra_args = list(extra_args)
    os.mkdir(srv.data_dir, 0o700)
    if test_clock is not None:
        srv.use_test_clock(test_clock)
    try:
        yield srv.start()
    finally:
        try:
            srv.stop()
        finally:
            ws.cleanup()


@pytest.fixture(scope="module")
def server(certfleetd_bin):
    """A certfleetd shared by the tests of one module."""
    yield from serve(certfleetd_bin)


class Cli:
    """Runs the real certfleet binary against one server, as the server's bootstrap admin (a
    system administrator) unless bound to another principal's token file."""

    def __init__(self, binary, server, token_file=None):
        self.binary = binary
        self.server = server
        self.token_file = token_file

    def as_token(self, token_file):
        """The same CLI, authenticating with another token file."""
        return Cli(self.binary, self.server, token_file)

    def run(self, *args, check=True, token_file=None, cwd=None):
        token_file = token_file or self.token_file or self.server.token_path
        argv = [self.binary, "--server", self.server.url, "--ca", self.server.ca_path,
                "--token-file", token_file, *args]
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=CLI_TIMEOUT_S, env=_clean_env(), cwd=cwd)
        if check and proc.returncode != 0:
            pytest.fail(f"certfleet {' '.join(args)} exited {proc.returncode}\n"
                        f"stdout: {proc.stdout}\nstderr: {proc.stderr}\n"
                        f"server log tail:\n{self.server.log_tail(15)}", pytrace=False)
        return proc

    def __call__(self, *args, **kw):
        return self.run(*args, **kw)

    def json(self, *args, **kw):
        proc = self.run("--json", *args, **kw)
        try:
            return json.loads(proc.stdout)
        except ValueError:
            pytest.fail(f"certfleet --json {' '.join(args)} printed non-JSON: {proc.stdout!r}",
                        pytrace=False)


@pytest.fixture
def cli(certfleet_bin, server):
    """cli(*args) runs certfleet with --server/--ca/--token-file for the module's server."""
    return Cli(certfleet_bin, server)


@pytest.fixture
def cli_for(certfleet_bin):
    """cli_for(server) makes a Cli bound to another server (from server_factory)."""
    return lambda srv: Cli(certfleet_bin, srv)


def run_tool(*argv, check=True, input=None):
    """Runs a helper tool such as openssl; returns the CompletedProcess (bytes)."""
    proc = subprocess.run(list(argv), input=input, capture_output=True, timeout=CLI_TIMEOUT_S)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(argv)} exited {proc.returncode}: "
                    f"{proc.stderr.decode(errors='replace')}", pytrace=False)
    return proc


# --- shared helpers ----------------------------------------------------------------------------

def _bench_enabled(build_dir):
    """CERTFLEET_BENCH of the CMake build at build_dir (None when there is no CMakeCache.txt)."""
    try:
        with open(os.path.join(build_dir, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CERTFLEET_BENCH:"):
                    return line.strip().split("=", 1)[1].upper() in ("ON", "1", "TRUE", "YES")
    except OSError:
        return None
    return None


def find_bench_binary(certfleetd_bin, name):
    """<build>/bench/<name> of the CMake build certfleetd (<build>/apps/certfleetd/certfleetd)
    comes from. Fails when the build has benchmarks on but not this one built; skips in a build
    without benchmarks (the ASan build sets CERTFLEET_BENCH=OFF) or outside a build tree."""
    d = os.path.dirname(os.path.abspath(certfleetd_bin))
    for _ in range(4):
        path = os.path.join(d, "bench", name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
        enabled = _bench_enabled(d)
        if enabled is not None:  # the build tree: the bench is missing from it
            if enabled:
                pytest.fail(f"{path} is missing from a build with CERTFLEET_BENCH=ON; "
                            f"build it first (ninja {name})", pytrace=False)
            pytest.skip(f"benchmarks are off in the build at {d} (CERTFLEET_BENCH=OFF, e.g. the "
                        f"ASan build): no bench/{name}")
        d = os.path.dirname(d)
    pytest.skip(f"bench/{name} not found: certfleetd ({certfleetd_bin}) is not inside a CMake "
                "build tree")


def list_all(server, path, token="admin"):
    """Every item of a paged list endpoint (docs/api.md "Pagination"): follows next_cursor to
    the end, so a caller never mistakes the first page for the whole list."""
    items, cursor = [], None
    sep = "&" if "?" in path else "?"
    for _ in range(10000):
        target = path if cursor is None else f"{path}{sep}cursor={cursor}"
        resp = server.request("GET", target, token=token)
        assert resp.status == 200, (target, resp)
        doc = resp.json()
        items += doc["items"]
        cursor = doc.get("next_cursor")
        if not cursor:
            return items
    raise AssertionError(f"{path}: no last page after 10000 pages")


def unique_name(prefix):
    return f"{prefix}-{secrets.token_hex(4)}"


def write_private_file(path, text):
    """Creates `path` 0600 with O_EXCL (a passphrase, a policy) and returns it."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def write_passphrase(workdir, value):
    # The CLI strips the trailing newline.
    return write_private_file(workdir.sub(f"pass-{secrets.token_hex(4)}"), value + "\n")


def assert_problem(resp, status=None):
    """A 4xx RFC 7807 problem document with type/title/status/detail; returns it."""
    assert 400 <= resp.status < 500, resp
    if status is not None:
        assert resp.status == status, resp
    assert resp.headers.get("content-type", "").startswith("application/problem+json"), resp.headers
    doc = resp.json()
    for field in ("type", "title", "status", "detail"):
        assert field in doc, f"problem document lacks {field}: {doc}"
    assert doc["status"] == resp.status
    assert doc["type"].startswith("urn:certfleet:problem:"), doc
    assert isinstance(doc["detail"], str) and doc["detail"], doc
    return doc


def assert_cli_denied(proc, status, rule=None):
    """The CLI failed (exit 1) with the API's status and, when given, the denying rule."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stderr.startswith("error: "), proc.stderr
    assert f"(HTTP {status})" in proc.stderr, proc.stderr
    if rule is not None:
        assert f"rule {rule}" in proc.stderr, proc.stderr


class Principal:
    """A principal made through the CLI, with its own token file and a Cli bound to it."""

    def __init__(self, record, token_path, cli):
        self.record = record
        self.id = record["id"]
        self.name = record["name"]
        self.account = record["account"]
        self.role = record["role"]
        self.token_path = token_path
        self.cli = cli

    def token(self):
        with open(self.token_path) as f:
            return f.read().strip()

    def __repr__(self):
        return f"Principal({self.name}, {self.role}, {self.account})"


# Names every account made by create_account may hold (issue #13: outside the system account, a
# certificate is issued and deployed only for names the account's domain claims cover). Shared,
# so every test account can hold them side by side.
DEFAULT_TEST_CLAIMS = ("example.test",)


def claim_domain(cli, account, domain, include_subdomains=True, shared=True):
    """`certfleet domain claim` as the caller of `cli` (by default the system admin); returns the
    claim JSON."""
    args = ["domain", "claim", "--account", account, "--domain", domain]
    if include_subdomains:
        args.append("--include-subdomains")
    if shared:
        args.append("--shared")
    claim = cli.json(*args)
    assert claim["id"].startswith("dcl_"), claim
    return claim


def create_account(cli, name=None, claims=DEFAULT_TEST_CLAIMS):
    """`certfleet account create` as the system admin; returns the account JSON. The account gets
    a shared claim (with subdomains) of each name in `claims`."""
    account = cli.json("account", "create", name or unique_name("acct"))
    assert account["id"].startswith("acc_"), account
    for domain in claims or ():
        claim_domain(cli, account["id"], domain)
    return account


def create_principal(cli, workdir, account, role, name=None, tags=None, kind=None):
    """`certfleet principal create` and `certfleet token create --out` as the caller of `cli`
    (by default the system admin). The token goes to a new 0600 file in `workdir`."""
    name = name or unique_name(role)
    args = ["principal", "create", "--account", account, "--name", name, "--role", role]
    if kind:
        args += ["--kind", kind]
    for key, value in (tags or {}).items():
        args += ["--tag", f"{key}={value}"]
    record = cli.json(*args)
    assert record["name"] == name and record["role"] == role, record
    token_dir = workdir.sub("tokens")
    os.makedirs(token_dir, mode=0o700, exist_ok=True)
    token_path = os.path.join(token_dir, f"{name}.token")
    out = cli("token", "create", "--principal", record["id"], "--account", account,
              "--out", token_path)
    assert out.stdout.strip() and "\n" not in out.stdout.strip(), out.stdout  # only the id
    return Principal(record, token_path, cli.as_token(token_path))


@pytest.fixture
def make_account(cli):
    """make_account() creates a fresh account on the module's server (isolates policies)."""
    return lambda name=None, claims=DEFAULT_TEST_CLAIMS: create_account(cli, name, claims)["id"]


@pytest.fixture
def make_principal(cli, workdir):
    """make_principal(account, role, tags=...) creates a principal with a token file."""
    return lambda account, role, **kw: create_principal(cli, workdir, account, role, **kw)


# --- PostgreSQL and HAProxy (issue #15) --------------------------------------------------------

PG_HARNESS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness",
                          "postgres.sh")
PG_BIN_DIR = os.environ.get("CERTFLEET_PG_BIN", "/usr/lib/postgresql/15/bin")
PG_TIMEOUT_S = 120.0  # initdb plus start, on a loaded 2-core machine
_PG_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _pg_env():
    # Hermetic: no PGHOST, PGPASSWORD, PGSERVICE... leak in from the caller's shell either.
    return {k: v for k, v in _clean_env().items() if not k.startswith("PG")}


def require_postgres():
    """Skips the test when PostgreSQL 15's programs are not installed."""
    missing = [b for b in ("initdb", "pg_ctl", "postgres", "psql", "pg_isready")
               if not os.access(os.path.join(PG_BIN_DIR, b), os.X_OK)]
    if missing:
        pytest.skip(f"PostgreSQL 15 is not installed ({', '.join(missing)} missing from "
                    f"{PG_BIN_DIR}); `scripts/install-deps.sh test` installs the Debian package "
                    "postgresql")


class Postgres:
    """A throwaway PostgreSQL 15 cluster made by test/harness/postgres.sh in `directory`: on
    127.0.0.1 only, on a free port, trust authentication, fsync on, its socket and log (`log`) in
    `directory`. As root the harness gives `directory` to the postgres user, so it must be a
    directory that user can reach (a fresh tempfile.mkdtemp(), as Workspace makes, is).

    start() after stop() starts the same cluster on the same port, so every URL handed out stays
    valid across an outage that a test causes on purpose."""

    def __init__(self, directory):
        self.dir = directory
        self.port = None
        self.url = None  # postgres://postgres@127.0.0.1:PORT/postgres

    @property
    def log_path(self):
        return os.path.join(self.dir, "log")

    def log_tail(self, n=40):
        try:
            with open(self.log_path, errors="replace") as f:
                return "\n".join(f.read().splitlines()[-n:])
        except OSError:
            return "(no log)"

    def _harness(self, *args):
        proc = subprocess.run([PG_HARNESS, *args], stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=PG_TIMEOUT_S, env=_pg_env())
        if proc.returncode != 0:
            pytest.fail(f"postgres.sh {' '.join(args)} exited {proc.returncode}: "
                        f"{proc.stderr.strip()}\nserver log tail:\n{self.log_tail()}",
                        pytrace=False)
        return proc

    def start(self):
        """Creates and starts the cluster; after stop(), starts it again on the same port."""
        self._harness("start", self.dir)
        with open(os.path.join(self.dir, "port")) as f:
            self.port = int(f.read())
        with open(os.path.join(self.dir, "url")) as f:
            self.url = f.read().strip()
        return self

    def stop(self):
        """Fast shutdown: open sessions are cut, committed data is kept. Does nothing when the
        cluster is not running."""
        self._harness("stop", self.dir)

    def is_running(self):
        """Whether the server accepts connections (pg_isready)."""
        if self.port is None:
            return False
        proc = subprocess.run([os.path.join(PG_BIN_DIR, "pg_isready"), "-q", "-h", "127.0.0.1",
                               "-p", str(self.port), "-t", "5"],
                              stdin=subprocess.DEVNULL, capture_output=True, env=_pg_env(),
                              timeout=PG_TIMEOUT_S)
        return proc.returncode == 0

    def database_url(self, name):
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def create_database(self, name=None):
        """CREATE DATABASE `name` (by default a fresh unique one); returns its URL, for
        certfleetd's --store."""
        name = name or unique_name("cf").replace("-", "_")
        if not _PG_NAME.fullmatch(name):
            raise ValueError(f"not a plain database name: {name!r}")
        self.psql(f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def psql(self, sql, db="postgres"):
        """Runs `sql` (one or more statements) through psql in database `db`, stopping at the
        first error (which fails the test); returns psql's stdout: unaligned rows, '|' between
        columns, no headers."""
        proc = subprocess.run(
            [os.path.join(PG_BIN_DIR, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-d", self.database_url(db), "-f", "-"],
            input=sql, capture_output=True, text=True, timeout=PG_TIMEOUT_S, env=_pg_env())
        if proc.returncode != 0:
            pytest.fail(f"psql ({db}) exited {proc.returncode} on {sql!r}: {proc.stderr.strip()}",
                        pytrace=False)
        return proc.stdout


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL cluster shared by the tests of one module. A test that needs an empty store
    takes its own database (postgres.create_database()); one that stops the cluster starts it
    again before it ends (teardown stops it either way)."""
    require_postgres()
    ws = Workspace("certfleet-e2e-pg-")
    pg = Postgres(ws.path)
    try:
        yield pg.start()
    finally:
        try:
            pg.stop()
        finally:
            ws.cleanup()


HAPROXY = "haproxy"
HAPROXY_START_TIMEOUT_S = 30.0
HAPROXY_CHECK_TIMEOUT_S = 30.0  # a state change takes fall (or rise) checks, `inter` apart


def require_haproxy():
    """Skips the test when haproxy is not installed."""
    if shutil.which(HAPROXY) is None:
        pytest.skip("haproxy is not installed; `scripts/install-deps.sh test` installs the Debian "
                    "package haproxy")


def haproxy_config(port, stats_socket, backends, balance="leastconn", check="readyz",
                   inter_ms=200, send_proxy=False):
    """HAProxy configuration text in the shape of deploy/haproxy/certfleet.cfg, for tests:
    TCP passthrough from 127.0.0.1:`port` to `backends` ((host, port) pairs, servers r1..rN),
    `balance` leastconn or roundrobin, health checks every `inter_ms` (fall 2, rise 2).
    send_proxy: every connection to a backend, health checks included, starts with a PROXY
    protocol v2 header (send-proxy-v2, check-send-proxy), for certfleetd --trusted-proxy.

    check="readyz": backend certfleet_ready checks GET /readyz over TLS (200 = in rotation); when
    none is ready, the frontend falls back to certfleet_alive, the same servers checked with a
    TLS handshake only (certfleetd then answers 503 itself). check="tcp": certfleet_ready alone,
    checked with a TCP connect, for backends without /readyz."""
    if balance not in ("leastconn", "roundrobin"):
        raise ValueError(f"balance {balance!r}")
    if check not in ("readyz", "tcp"):
        raise ValueError(f"check {check!r}")
    servers = [f"    server r{i} {host}:{p}" for i, (host, p) in enumerate(backends, 1)]
    default_server = f"    default-server check inter {inter_ms} fall 2 rise 2"
    if send_proxy:
        default_server += " send-proxy-v2 check-send-proxy"
    lines = ["global",
             "    maxconn 4000",  # the default asks for more descriptors than the limit here
             f"    stats socket {stats_socket} mode 600 level admin"]
    if os.geteuid() == 0:  # bound and listening first, then nobody
        lines += ["    user nobody", f"    group {_nobody_group()}"]
    lines += ["defaults",
              "    mode tcp",
              "    timeout connect 5s",
              "    timeout client 90s",
              "    timeout server 90s",
              "    timeout check 3s",
              "    retries 2",
              "    option redispatch",
              "frontend certfleet",
              f"    bind 127.0.0.1:{port}"]
    if check == "readyz":
        lines += ["    use_backend certfleet_ready if { nbsrv(certfleet_ready) gt 0 }",
                  "    default_backend certfleet_alive",
                  "backend certfleet_ready",
                  f"    balance {balance}",
                  "    option httpchk",
                  "    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host certfleet"
                  " hdr Connection close",
                  "    http-check expect status 200",
                  default_server + " check-ssl verify none",
                  *servers,
                  "backend certfleet_alive",
                  f"    balance {balance}",
                  "    option tcp-check",
                  "    tcp-check connect ssl" + (" send-proxy" if send_proxy else ""),
                  default_server + " verify none",
                  *servers]
    else:
        lines += ["    default_backend certfleet_ready",
                  "backend certfleet_ready",
                  f"    balance {balance}",
                  "    option tcp-check",
                  default_server,
                  *servers]
    return "\n".join(lines) + "\n"


def _nobody_group():
    for name in ("nogroup", "nobody"):
        try:
            grp.getgrnam(name)
            return name
        except KeyError:
            pass
    return "65534"


class Haproxy:
    """One haproxy in the foreground (-db) on 127.0.0.1:<free port>, with its configuration,
    runtime API socket (`stats socket`) and log (stderr: alerts and server state changes) in
    `directory`. Needs no privilege; as root the generated configuration drops to nobody.

    The configuration is haproxy_config(port, socket, backends, **options), or, given `render`,
    render(port, stats_socket) (test_haproxy_config.py runs deploy/haproxy/certfleet.cfg so).
    start() checks it with `haproxy -c` first and moves to another port if the one picked was
    taken meanwhile."""

    def __init__(self, directory, backends=(), render=None, **options):
        if not backends and render is None:
            raise ValueError("backends or render")
        self.dir = directory
        self.backends = list(backends)
        self.render = render or (lambda port, sock: haproxy_config(port, sock, self.backends,
                                                                   **options))
        self.config_path = os.path.join(directory, "haproxy.cfg")
        self.stats_socket = os.path.join(directory, "admin.sock")
        self.log_path = os.path.join(directory, "haproxy.log")
        self.port = None
        self.proc = None

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    def log_tail(self, n=40):
        try:
            with open(self.log_path, errors="replace") as f:
                return "\n".join(f.read().splitlines()[-n:])
        except OSError:
            return "(no log)"

    def start(self):
        assert self.proc is None, "haproxy already running"
        last = ""
        for _ in range(PORT_ATTEMPTS):
            self.port = _free_port()
            with open(self.config_path, "w") as f:
                f.write(self.render(self.port, self.stats_socket))
            check = subprocess.run([HAPROXY, "-c", "-q", "-f", self.config_path],
                                   stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                   timeout=HAPROXY_START_TIMEOUT_S)
            if check.returncode != 0:
                pytest.fail(f"haproxy -c refused {self.config_path}: "
                            f"{(check.stdout + check.stderr).strip()}", pytrace=False)
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen([HAPROXY, "-db", "-f", self.config_path],
                                             stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                             start_new_session=True)
            if self._wait_ready():
                return self
            rc = self.proc.poll()
            if rc is None:
                self._kill()
                pytest.fail(f"haproxy not ready within {HAPROXY_START_TIMEOUT_S}s; log:\n"
                            + self.log_tail(), pytrace=False)
            self.proc = None
            last = self.log_tail()
            if "cannot bind" not in last and "in use" not in last.lower():
                break
        pytest.fail(f"haproxy exited during start-up (port {self.port}); log:\n{last}",
                    pytrace=False)

    def _wait_ready(self):
        # The runtime API answers once haproxy is bound and running its event loop.
        deadline = time.monotonic() + HAPROXY_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if "Name: HAProxy" in self.command("show info"):
                    return True
            except OSError:
                pass  # the socket is not there yet
            time.sleep(READY_POLL_S)  # bounded poll of the runtime API
        return False

    def stop(self):
        """SIGTERM (haproxy's immediate stop), wait; its exit status, or None."""
        proc, self.proc = self.proc, None
        return stop_process(proc, "haproxy", self.log_tail)

    def _kill(self):
        kill_process(self.proc)
        self.proc = None

    def command(self, line):
        """One command on the runtime API (e.g. "disable server certfleet_ready/r1"); its
        answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(self.stats_socket)
            s.sendall(line.encode() + b"\n")
            chunks = []
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def stats(self):
        """`show stat` as {(proxy, server): {column: value}}; server is also FRONTEND or BACKEND
        for a proxy's own row. Columns: status, scur (current sessions), stot (total), wredis
        (redispatches), chkfail, ... (HAProxy's management guide, "CSV format")."""
        text = self.command("show stat")
        lines = text.splitlines()
        if not lines or not lines[0].startswith("# "):
            raise AssertionError(f"unexpected `show stat` answer: {text[:300]!r}")
        header = lines[0][2:].split(",")
        rows = {}
        for line in lines[1:]:
            if line:
                row = dict(zip(header, line.split(",")))
                rows[(row["pxname"], row["svname"])] = row
        return rows

    def stat(self, proxy, server):
        """One row of stats()."""
        return self.stats()[(proxy, server)]

    def server_states(self, backend="certfleet_ready"):
        """{server name: status} in `backend`: "UP", "DOWN", "MAINT", "no check", or a transition
        such as "UP 1/2" (one failed check of the two that take it down)."""
        return {server: row["status"] for (proxy, server), row in self.stats().items()
                if proxy == backend and server not in ("FRONTEND", "BACKEND")}

    def wait_servers(self, expected, backend="certfleet_ready", timeout=HAPROXY_CHECK_TIMEOUT_S):
        """Waits until `backend`'s servers have the states in `expected` ({name: "UP"|"DOWN"},
        or one state for every server); returns all states. Fails the test after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            states = self.server_states(backend)
            want = expected if isinstance(expected, dict) else {n: expected for n in states}
            if states and all(states.get(n) == s for n, s in want.items()):
                return states
            if time.monotonic() > deadline:
                pytest.fail(f"{backend}: servers {states}, expected {want} within {timeout}s; "
                            f"haproxy log:\n{self.log_tail()}", pytrace=False)
            time.sleep(READY_POLL_S)  # bounded poll of the health check results

    def wait_up(self, timeout=HAPROXY_CHECK_TIMEOUT_S):
        """Waits until every server of certfleet_ready passes its health check."""
        return self.wait_servers("UP", timeout=timeout)


@pytest.fixture
def haproxy():
    """haproxy(backends, balance=..., check=..., inter_ms=...) or haproxy(render=...) starts a
    Haproxy (each in its own directory); all are stopped and removed at teardown."""
    require_haproxy()
    made = []

    def make(backends=(), **kw):
        ws = Workspace("certfleet-e2e-haproxy-")
        lb = Haproxy(ws.path, backends, **kw)
        made.append((lb, ws))
        return lb.start()

    yield make
    for lb, ws in made:
        try:
            lb.stop()
        finally:
            ws.cleanup()


# --- certfleetd replicas on one PostgreSQL database (issue #15) ------------------------------

# Every replica in a test takes the same flags (docs/high-availability.md): behind HAProxy all
# connections come from one address, so the per-address limit is raised to the total.
REPLICA_ARGS = ["--max-connections-per-address", "4096"]


def advisory_key(text):
    """The 64-bit advisory lock key certfleetd derives from `text` (FNV-1a, as
    store/postgres/replicas.cc AdvisoryKey), as an unsigned number."""
    h = 1469598103934665603
    for c in text.encode():
        h ^= c
        h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def _socket_inodes(pid):
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue  # closed meanwhile
            if link.startswith("socket:["):
                inodes.add(link[len("socket:["):-1])
    except OSError:
        pass
    return inodes


def _local_ports_by_inode():
    ports = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    ports[cols[9]] = int(cols[1].rsplit(":", 1)[1], 16)
        except OSError:
            pass
    return ports


class Frontend(Server):
    """The address clients and agents dial when replicas sit behind HAProxy: HAProxy's port,
    the replicas' CA bundle and the bootstrap admin token. Never started: Cli, Agent and
    request() need only url, port, ca_path, token_path and log_tail. (HAProxy passes TLS
    through, so clients see a replica's listener certificate; it names 127.0.0.1, which is
    also HAProxy's address here.)"""

    def __init__(self, replicas, port):
        super().__init__(replicas.servers[0].binary, replicas.servers[0].data_dir)
        self.replicas = replicas
        self.port = port

    def start(self, same_port=False):
        raise AssertionError("the frontend is HAProxy: start the replicas")

    def log_tail(self, n=40):
        return self.replicas.log_tails(max(5, n // len(self.replicas.servers)))


class ReplicaSet:
    """N certfleetd replicas on one fresh PostgreSQL database of the module's cluster
    (docs/high-availability.md, "Starting replicas"): the first starts on the empty database
    and creates the CA, the KEK and admin.token; every other gets a data dir of its own holding
    a copy of the first one's kek.key and ca.pem, and the same --store. Optionally behind a
    Haproxy in the shape of deploy/haproxy/certfleet.cfg (`front`).

    `extra_args` go to every replica; `setup(index, server)` may change one before its first
    start (extra_env, its own clock). With `clock_offset`, every replica runs on one shared test
    clock file (set_clock moves them all)."""

    def __init__(self, certfleetd_bin, postgres, n=3, extra_args=(), setup=None,
                 clock_offset=None, balancer=False):
        assert n >= 1
        self.postgres = postgres
        self.ws = Workspace("certfleet-e2e-replicas-")
        self.url = postgres.create_database()
        self.db = self.url.rsplit("/", 1)[1]
        self.clock_file = self.ws.sub("test-clock") if clock_offset is not None else None
        self.servers = []
        self.lb = None
        self.front = None
        for i in range(n):
            srv = Server(certfleetd_bin, self.ws.sub(f"r{i + 1}", "data"))
            os.makedirs(srv.data_dir, 0o700)
            srv.name = f"r{i + 1}"
            srv.extra_args = ["--store", self.url, *REPLICA_ARGS, *extra_args]
            if clock_offset is not None:
                srv.use_test_clock(clock_offset, self.clock_file)
            if setup is not None:
                setup(i, srv)
            self.servers.append(srv)
        self._balancer = balancer

    def start(self):
        first = self.servers[0]
        first.start()
        for srv in self.servers[1:]:
            # Before its first start (else it makes a KEK of its own): the first one's KEK, 0600,
            # and the CA bundle it wrote.
            shutil.copyfile(os.path.join(first.data_dir, "kek.key"),
                            os.path.join(srv.data_dir, "kek.key"))
            os.chmod(os.path.join(srv.data_dir, "kek.key"), 0o600)
            shutil.copyfile(first.ca_path, srv.ca_path)
            srv.admin_token_file = first.token_path
            srv.start()
            assert not os.path.exists(os.path.join(srv.data_dir, "admin.token")), \
                "a later replica wrote a bootstrap admin token"
        if self._balancer:
            require_haproxy()
            self.lb = Haproxy(self.ws.sub("haproxy"), [("127.0.0.1", s.port)
                                                       for s in self.servers])
            os.makedirs(self.lb.dir, 0o700)
            self.lb.start()
            self.lb.wait_up()
            self.front = Frontend(self, self.lb.port)
        return self

    def stop(self):
        """Stops HAProxy and every replica (each one even if another fails to stop), then
        removes the directories; the first failure is raised afterwards."""
        first = None
        for stop in ([self.lb.stop] if self.lb is not None else []) + \
                [srv.stop for srv in self.servers]:
            try:
                stop()
            except BaseException as e:  # noqa: BLE001 (pytest.fail raises outside Exception)
                first = first or e
        self.ws.cleanup()
        if first is not None:
            raise first

    def __getitem__(self, i):
        return self.servers[i]

    def __iter__(self):
        return iter(self.servers)

    def running(self):
        return [s for s in self.servers if s.proc is not None and s.proc.poll() is None]

    def log_tails(self, n=20):
        return "\n".join(f"--- {s.name} (pid {s.proc.pid if s.proc else '-'}) ---\n"
                         + s.log_tail(n) for s in self.servers)

    def psql(self, sql):
        """psql in this replica set's database (conftest Postgres.psql)."""
        return self.postgres.psql(sql, db=self.db)

    def set_clock(self, offset_seconds):
        """Moves the shared test clock and waits until every running replica has taken it."""
        running = self.running()
        seen = [s.clock_moves(offset_seconds) for s in running]
        running[0]._write_clock(offset_seconds)
        for srv, n in zip(running, seen):
            srv.wait_clock(offset_seconds, n)

    def by_client_port(self, port):
        """The running replica whose process owns the local TCP port `port` (a database session
        seen from PostgreSQL's side: pg_stat_activity.client_port), or None."""
        inodes = {inode for inode, p in _local_ports_by_inode().items() if p == port}
        for srv in self.running():
            if inodes & _socket_inodes(srv.proc.pid):
                return srv
        return None

    def by_owner(self, owner):
        """The replica named by a lease owner ("host:pid", jobs.lease_owner), or None."""
        pid = owner.rsplit(":", 1)[-1]
        for srv in self.servers:
            if srv.proc is not None and str(srv.proc.pid) == pid:
                return srv
        return None

    def leader(self, lock="renewal-scheduler"):
        """The running replica holding the advisory lock of `lock` (store::Leadership; the
        renewal scheduler, expiry-watcher or event-dispatcher), read from pg_locks, or None."""
        key = advisory_key(f"certfleet.leader:public:{lock}")
        rows = self.psql(
            "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            f"AND l.classid = {key >> 32} AND l.objid = {key & 0xFFFFFFFF} "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())")
        ports = [int(p) for p in rows.split()]
        assert len(ports) <= 1, f"{lock} held by several sessions: {ports}"
        return self.by_client_port(ports[0]) if ports else None


@pytest.fixture
def replicas(certfleetd_bin, postgres):
    """replicas(n=3, extra_args=(), setup=None, clock_offset=None, balancer=False) starts a
    ReplicaSet on a fresh database of the module's PostgreSQL; every replica (and HAProxy) is
    stopped and its directories removed at teardown."""
    made = []

    def make(n=3, **kw):
        rs = ReplicaSet(certfleetd_bin, postgres, n, **kw)
        made.append(rs)
        return rs.start()

    yield make
    first = None
    for rs in made:
        try:
            rs.stop()
        except BaseException as e:  # noqa: BLE001 (as ReplicaSet.stop)
            first = first or e
    if first is not None:
        raise first
