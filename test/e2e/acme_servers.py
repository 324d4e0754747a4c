"""Harness for ACME tests (issue #6): a real BIND9 and a real Pebble (Let's Encrypt's test ACME CA)
on loopback, each in its own directory, on free ports (RECIPES.md, "Pebble" and "BIND9").

  Bind9(directory)      named serving primary zones (default example.test and delegated.test)
                        whose TXT and CNAME records a TSIG key may update (RFC 2136): the
                        dns-01 target, and the resolver Pebble's VA uses for every challenge
                        (it follows a CNAME from one zone into the other).
  Pebble(directory, dns_port)
                        pebble with its own listener CA, resolving names through `dns_port`.
  lego_command(...), certbot_command(...)
                        argv and environment for one issuance by a real ACME client against
                        them (used by test_acme_servers.py and bench/acme_clients_bench.py).

Each directory holds the server's configuration, state and logs, and is the caller's to remove
(e.g. a conftest.Workspace). As root, named runs as user `bind` and takes over its directory, so
that directory must be reachable by `bind`: a fresh tempfile.mkdtemp() directory is.

Processes run in their own session and are stopped with SIGTERM (SIGKILL after a bound). Nothing
here sleeps to let time pass: every wait polls a condition with a bound. Only the standard
library, pytest (through conftest) and the Debian packages in scripts/install-deps.sh are used.
"""

import base64
import http.client
import json
import os
import pwd
import re
import secrets
import shutil
import ssl
import subprocess
import time

from conftest import _free_port as free_port  # noqa: F401 (re-exported for harness users)
from conftest import Workspace, kill_process, stop_process

NAMED = "named"
PEBBLE = "pebble"
OPENSSL = "openssl"

START_TIMEOUT_S = 30.0
POLL_S = 0.05
TOOL_TIMEOUT_S = 20.0
PORT_ATTEMPTS = 5

DEFAULT_ZONES = ("example.test", "delegated.test")
TSIG_NAME = "acme-update"
TSIG_ALGORITHM = "hmac-sha256"


class HarnessError(RuntimeError):
    """A server of this harness could not be set up; the message carries the log tail."""


def missing_binaries(*names):
    """The names (of `names`) that are not on PATH: tests skip when this is not empty."""
    return [n for n in names if shutil.which(n) is None]


def _run(argv, input=None, check=True, env=None, timeout=TOOL_TIMEOUT_S):
    proc = subprocess.run(list(argv), input=input, capture_output=True, text=True, env=env,
                          timeout=timeout,
                          stdin=None if input is not None else subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise HarnessError(f"{' '.join(argv)} exited {proc.returncode}: "
                           f"{(proc.stdout + proc.stderr).strip()}")
    return proc


def _tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            return "\n".join(f.read().splitlines()[-n:])
    except OSError:
        return "(no log)"


def _read_from(path, offset):
    try:
        with open(path, errors="replace") as f:
            f.seek(offset)
            return f.read()
    except OSError:
        return ""


def _wait_ready(proc, ready, timeout=START_TIMEOUT_S):
    """Polls `ready()` until it is true (True), the process exits or `timeout` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if ready():
            return True
        time.sleep(POLL_S)  # bounded poll of a readiness check
    return False


def _start(argv, log_path, env=None, cwd=None):
    with open(log_path, "ab") as log:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                cwd=cwd, start_new_session=True)


# --- BIND9 ------------------------------------------------------------------------------------

# A local root: named is authoritative for every name, so recursion never goes out.
_ROOT_ZONE = "\n".join([
    "$TTL 60",
    "@ IN SOA ns.root. hostmaster.root. 1 3600 600 86400 1",
    "@ IN NS ns.root.",
    "ns.root. IN A 127.0.0.1",
    "",
])


def _zone_text(zone):
    # SOA minimum 1 s: a client that asks for a name before its record is planted does not
    # cache the negative answer for long.
    return "\n".join([
        "$TTL 60",
        f"@ IN SOA ns1.{zone}. hostmaster.{zone}. 1 3600 600 86400 1",
        f"@ IN NS ns1.{zone}.",
        "@ IN A 127.0.0.1",
        "ns1 IN A 127.0.0.1",
        "* IN A 127.0.0.1",
        "",
    ])


class Bind9:
    """One named on 127.0.0.1:<free port> (UDP and TCP), authoritative for every name (a local
    root zone answers NXDOMAIN outside the test zones) and following CNAMEs from one of its
    zones into another for queries that ask for recursion, as a CA's resolver would.

    Zones are primaries loaded from `<directory>/<zone>.zone`, with an A record 127.0.0.1 at the
    apex, at ns1 and at `*`. The TSIG key `acme-update` (hmac-sha256) may add and delete TXT and
    CNAME records at and below each apex, nothing else; named keeps the changes in journal files
    next to the zone files.
    """

    def __init__(self, directory, zones=DEFAULT_ZONES):
        self.dir = os.path.abspath(directory)
        self.zones = tuple(zones)
        self.conf_path = os.path.join(self.dir, "named.conf")
        self.tsig_key_path = os.path.join(self.dir, "tsig.key")
        self.log_path = os.path.join(self.dir, "named.log")  # named's own logging channel
        self.stderr_path = os.path.join(self.dir, "named.stderr.log")
        self.tsig_name = TSIG_NAME
        self.tsig_algorithm = TSIG_ALGORITHM
        self.tsig_secret = None
        self.port = None
        self.proc = None
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self._make_key()
        with open(self.zone_path("."), "w") as f:
            f.write(_ROOT_ZONE)
        for zone in self.zones:
            with open(self.zone_path(zone), "w") as f:
                f.write(_zone_text(zone))

    def zone_path(self, zone):
        return os.path.join(self.dir, "root.zone" if zone == "." else f"{zone}.zone")

    def _make_key(self):
        text = _run(["tsig-keygen", "-a", self.tsig_algorithm, self.tsig_name]).stdout
        match = re.search(r'secret\s+"([^"]+)"', text)
        if not match:
            raise HarnessError(f"tsig-keygen printed no secret: {text!r}")
        self.tsig_secret = match.group(1)
        fd = os.open(self.tsig_key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)

    def config_text(self):
        d = self.dir
        lines = [
            "options {",
            f'  directory "{d}";',
            f'  pid-file "{d}/named.pid";',
            f'  session-keyfile "{d}/session.key";',
            f'  managed-keys-directory "{d}";',
            f"  listen-on port {self.port} {{ 127.0.0.1; }};",
            "  listen-on-v6 { none; };",
            # Recursion, for loopback only, makes named chase a CNAME from one of its zones
            # into another (RD queries restart at the target), as a validating CA's resolver
            # does: Pebble's VA (Go's resolver) does not follow CNAMEs itself. The local root
            # zone answers every other name with NXDOMAIN: no query leaves the machine.
            "  recursion yes;",
            "  allow-recursion { 127.0.0.1; };",
            "  allow-query-cache { 127.0.0.1; };",
            "  dnssec-validation no;",
            "  allow-transfer { none; };",
            "  notify no;",
            "};",
            "controls { };",
            "logging {",
            f'  channel to_file {{ file "{self.log_path}"; severity info; print-time yes; }};',
            "  category default { to_file; };",
            "  category lame-servers { null; };",
            "};",
            f'include "{self.tsig_key_path}";',
        ]
        lines += ['zone "." {', "  type primary;", f'  file "{self.zone_path(".")}";', "};"]
        for zone in self.zones:
            lines += [
                f'zone "{zone}" {{',
                "  type primary;",
                f'  file "{self.zone_path(zone)}";',
                f"  update-policy {{ grant {self.tsig_name} zonesub TXT; "
                f"grant {self.tsig_name} zonesub CNAME; }};",
                "};",
            ]
        return "\n".join(lines) + "\n"

    def _argv(self):
        argv = [NAMED, "-c", self.conf_path, "-f"]
        if os.geteuid() == 0:
            argv += ["-u", "bind"]
        return argv

    def _hand_to_bind(self):
        # named drops root for `bind` after reading its configuration; the zone journals, the
        # session key and the log are written as `bind`.
        if os.geteuid() != 0:
            return
        user = pwd.getpwnam("bind")
        for root, dirs, files in os.walk(self.dir):
            for name in [root] + [os.path.join(root, x) for x in dirs + files]:
                os.chown(name, user.pw_uid, user.pw_gid)

    def start(self):
        assert self.proc is None, "named already running"
        last = ""
        for _ in range(PORT_ATTEMPTS):
            self.port = free_port()
            with open(self.conf_path, "w") as f:
                f.write(self.config_text())
            _run([NAMED + "-checkconf", self.conf_path])
            self._hand_to_bind()
            log_size = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
            self.proc = _start(self._argv(), self.stderr_path)
            if _wait_ready(self.proc, self._answers):
                return self
            # named keeps running when it cannot bind a listen-on address: look at the log.
            last = self.log_tail()
            collision = "address in use" in _read_from(self.log_path, log_size).lower()
            kill_process(self.proc)
            self.proc = None
            if not collision:
                break
        raise HarnessError(f"named did not answer on 127.0.0.1:{self.port}:\n{last}")

    def _answers(self):
        proc = _run(["dig", "@127.0.0.1", "-p", str(self.port), "SOA", self.zones[0], "+short",
                     "+time=1", "+tries=1"], check=False)
        return proc.returncode == 0 and proc.stdout.strip() != ""

    def log_tail(self, n=30):
        return (f"named log ({self.log_path}):\n{_tail(self.log_path, n)}\n"
                f"named stderr:\n{_tail(self.stderr_path, n)}")

    def stop(self):
        """SIGTERM and wait (SIGKILL after a bound); the exit status, None if not running."""
        proc, self.proc = self.proc, None
        return stop_process(proc, "named", self.log_tail)

    # --- records ------------------------------------------------------------------------------

    def nsupdate(self, commands, key_path=None, check=True):
        """Sends an RFC 2136 update signed with `key_path` (default the harness key, a file in
        named.conf `key` syntax): `commands` are nsupdate lines without server/send. Returns the
        CompletedProcess (exit 0 when the server accepted it)."""
        script = "\n".join([f"server 127.0.0.1 {self.port}", *commands, "send", ""])
        return _run(["nsupdate", "-k", key_path or self.tsig_key_path, "-t", "10"],
                    input=script, check=check)

    def add_record(self, zone, name, rtype, value, ttl=60, key_path=None, check=True):
        """Adds `name` (absolute; a trailing dot is added) `rtype` `value` to `zone`."""
        return self.nsupdate([f"zone {zone}", f"update add {_fqdn(name)} {ttl} {rtype} {value}"],
                             key_path=key_path, check=check)

    def delete_record(self, zone, name, rtype, key_path=None, check=True):
        return self.nsupdate([f"zone {zone}", f"update delete {_fqdn(name)} {rtype}"],
                             key_path=key_path, check=check)

    def query(self, name, rtype):
        """The answers (dig +short lines, TXT values still quoted) for `name` `rtype`."""
        proc = _run(["dig", "@127.0.0.1", "-p", str(self.port), _fqdn(name), rtype, "+short",
                     "+time=2", "+tries=2"])
        return [line for line in proc.stdout.splitlines() if line.strip()]

    def write_foreign_key(self, path):
        """A key file with the harness key's name and algorithm but another secret (for tests
        that the server refuses unauthenticated updates)."""
        secret = base64.b64encode(secrets.token_bytes(32)).decode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f'key "{self.tsig_name}" {{\n\talgorithm {self.tsig_algorithm};\n'
                    f'\tsecret "{secret}";\n}};\n')
        return path


def _fqdn(name):
    return name if name.endswith(".") else name + "."


# --- Pebble -----------------------------------------------------------------------------------

def _make_listener_cert(directory):
    """A throwaway CA and a P-256 listener certificate for localhost and 127.0.0.1 (Go's TLS
    stack and Python's both want the names in subjectAltName). Returns (ca, cert, key)."""
    ca_key = os.path.join(directory, "listener-ca.key")
    ca = os.path.join(directory, "listener-ca.pem")
    key = os.path.join(directory, "listener.key")
    csr = os.path.join(directory, "listener.csr")
    cert = os.path.join(directory, "listener.pem")
    ext = os.path.join(directory, "listener.ext")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _run([OPENSSL, "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2",
          "-subj", "/CN=certfleet test Pebble listener CA",
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    _run([OPENSSL, "req", "-new", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"])
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                "authorityKeyIdentifier=keyid\n")
    _run([OPENSSL, "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
          "-days", "2", "-extfile", ext, "-out", cert])
    return ca, cert, key


def _pebble_env(overrides):
    # Hermetic: no PEBBLE_* setting leaks in from the caller's shell; then the harness default
    # (no artificial validation delay) and the caller's overrides. Pebble's own defaults stay,
    # notably the 5% of good nonces rejected (PEBBLE_WFE_NONCEREJECT): clients must retry.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEBBLE_")}
    env["PEBBLE_VA_NOSLEEP"] = "1"
    env.update(overrides or {})
    return env


class Pebble:
    """One pebble: ACME directory at https://127.0.0.1:<port>/dir, management interface (the
    issuing root at /roots/0, new at every start) on another port, both served with a listener
    certificate from a throwaway CA (`ca_file`). Its VA resolves every name through
    127.0.0.1:`dns_port` and fetches HTTP-01 from NAME:`http_port`, TLS-ALPN-01 from
    NAME:`tls_port`: ports where the ACME client under test listens, so they are only chosen
    free here, not bound. State is in memory and dies with the process."""

    def __init__(self, directory, dns_port, env=None, http_port=None, tls_port=None,
                 validity_seconds=None, eab_keys=None):
        self.dir = os.path.abspath(directory)
        # kid -> base64url HMAC key: external account binding required with these keys.
        self.eab_keys = dict(eab_keys or {})
        # Lifetime of the certificates it issues (Pebble's default is five years); short ones
        # let a renewal test reach the renewal window with a small move of the test clock.
        self.validity_seconds = validity_seconds
        self.dns_port = dns_port
        self.env = _pebble_env(env)
        self.http_port = http_port or free_port()
        self.tls_port = tls_port or free_port()
        self.port = None
        self.mgmt_port = None
        self.proc = None
        self.conf_path = os.path.join(self.dir, "pebble-config.json")
        self.log_path = os.path.join(self.dir, "pebble.log")
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.ca_file, self.cert_path, self.key_path = _make_listener_cert(self.dir)

    @property
    def directory_url(self):
        return f"https://127.0.0.1:{self.port}/dir"

    def config_text(self):
        conf = {
            "listenAddress": f"127.0.0.1:{self.port}",
            "managementListenAddress": f"127.0.0.1:{self.mgmt_port}",
            "certificate": self.cert_path,
            "privateKey": self.key_path,
            "httpPort": self.http_port,
            "tlsPort": self.tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": bool(self.eab_keys),
        }
        if self.eab_keys:
            conf["externalAccountMACKeys"] = self.eab_keys
        if self.validity_seconds:
            conf["certificateValidityPeriod"] = int(self.validity_seconds)
        return json.dumps({"pebble": conf}, indent=2) + "\n"

    def start(self):
        assert self.proc is None, "pebble already running"
        last = ""
        for _ in range(PORT_ATTEMPTS):
            self.port, self.mgmt_port = free_port(), free_port()
            with open(self.conf_path, "w") as f:
                f.write(self.config_text())
            self.proc = _start([PEBBLE, "-config", self.conf_path,
                                "-dnsserver", f"127.0.0.1:{self.dns_port}"],
                               self.log_path, env=self.env, cwd=self.dir)
            if _wait_ready(self.proc, self._ready):
                return self
            last = self.log_tail()
            alive = self.proc.poll() is None
            kill_process(self.proc)
            self.proc = None
            if alive or "address already in use" not in last:
                break
        raise HarnessError(f"pebble not ready on 127.0.0.1:{self.port}:\n{last}")

    def _ready(self):
        try:
            return (self._get(self.port, "/dir")[0] == 200
                    and self._get(self.mgmt_port, "/roots/0")[0] == 200)
        except (OSError, ssl.SSLError, http.client.HTTPException):
            return False

    def _get(self, port, path, timeout=5):
        ctx = ssl.create_default_context(cafile=self.ca_file)
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def root_pem(self):
        """The PEM of the root that issues this run's certificates (verified fetch)."""
        status, body = self._get(self.mgmt_port, "/roots/0")
        if status != 200:
            raise HarnessError(f"pebble /roots/0 answered {status}: {body[:200]!r}")
        return body.decode()

    def write_root(self, path):
        with open(path, "w") as f:
            f.write(self.root_pem())
        return path

    def log_tail(self, n=30):
        return f"pebble log ({self.log_path}):\n{_tail(self.log_path, n)}"

    def stop(self):
        """SIGTERM and wait (SIGKILL after a bound); the exit status, None if not running."""
        proc, self.proc = self.proc, None
        return stop_process(proc, "pebble", self.log_tail)


# --- real ACME clients ------------------------------------------------------------------------

def _client_env(extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LEGO_", "RFC2136_", "REQUESTS_CA_BUNDLE", "CERTFLEET_"))}
    env.update(extra)
    return env


def lego_command(pebble, bind, domain, workdir, challenge="dns-01"):
    """(argv, env, cert_path, issuer_path) for `lego run` of `domain` into `workdir` (fresh
    account). dns-01 plants the TXT record in `bind` over RFC 2136 with the harness TSIG key and
    skips the propagation pre-check (the server is authoritative); http-01 listens on 127.0.0.1
    at Pebble's httpPort."""
    argv = ["lego", "--server", pebble.directory_url, "--accept-tos", "--email",
            "acme@example.test", "--path", workdir, "--domains", domain]
    env = {"LEGO_CA_CERTIFICATES": pebble.ca_file}
    if challenge == "dns-01":
        argv += ["--dns", "rfc2136", "--dns.resolvers", f"127.0.0.1:{bind.port}",
                 "--dns.disable-cp"]
        env.update({
            "RFC2136_NAMESERVER": f"127.0.0.1:{bind.port}",
            "RFC2136_TSIG_KEY": bind.tsig_name,
            "RFC2136_TSIG_SECRET": bind.tsig_secret,
            "RFC2136_TSIG_ALGORITHM": bind.tsig_algorithm + ".",
            "RFC2136_SEQUENCE_INTERVAL": "1",
            "RFC2136_PROPAGATION_TIMEOUT": "30",
            "RFC2136_POLLING_INTERVAL": "1",
        })
    elif challenge == "http-01":
        argv += ["--http", "--http.port", f"127.0.0.1:{pebble.http_port}"]
    else:
        raise ValueError(f"lego_command: unsupported challenge {challenge}")
    argv.append("run")
    certs = os.path.join(workdir, "certificates")
    # lego names files after the domain, '*' replaced by '_'.
    base = os.path.join(certs, domain.replace("*", "_"))
    return argv, _client_env(env), base + ".crt", base + ".issuer.crt"


def write_certbot_rfc2136_credentials(bind, path):
    """certbot-dns-rfc2136's credentials file (0600: it holds the TSIG secret) for updates to
    `bind` with the harness key; returns `path`."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"dns_rfc2136_server = 127.0.0.1\n"
                f"dns_rfc2136_port = {bind.port}\n"
                f"dns_rfc2136_name = {bind.tsig_name}\n"
                f"dns_rfc2136_secret = {bind.tsig_secret}\n"
                f"dns_rfc2136_algorithm = {bind.tsig_algorithm.upper()}\n")
    return path


def certbot_command(pebble, bind, domain, workdir, challenge="http-01"):
    """(argv, env, cert_path, chain_path) for `certbot certonly` of `domain` with its config,
    work and log directories under `workdir` (fresh account). http-01 uses the standalone
    server on 127.0.0.1 at Pebble's httpPort; dns-01 the rfc2136 plugin with a 0600 credentials
    file and no propagation wait (the server is authoritative)."""
    argv = ["certbot", "certonly", "-n", "--agree-tos", "--register-unsafely-without-email",
            "--server", pebble.directory_url, "-d", domain,
            "--config-dir", os.path.join(workdir, "config"),
            "--work-dir", os.path.join(workdir, "work"),
            "--logs-dir", os.path.join(workdir, "logs")]
    if challenge == "http-01":
        argv += ["--standalone", "--http-01-address", "127.0.0.1",
                 "--http-01-port", str(pebble.http_port)]
    elif challenge == "dns-01":
        os.makedirs(workdir, mode=0o700, exist_ok=True)
        creds = write_certbot_rfc2136_credentials(bind, os.path.join(workdir, "rfc2136.ini"))
        argv += ["--dns-rfc2136", "--dns-rfc2136-credentials", creds,
                 "--dns-rfc2136-propagation-seconds", "0"]
    else:
        raise ValueError(f"certbot_command: unsupported challenge {challenge}")
    live = os.path.join(workdir, "config", "live", domain.lstrip("*."))
    env = _client_env({"REQUESTS_CA_BUNDLE": pebble.ca_file})
    return argv, env, os.path.join(live, "cert.pem"), os.path.join(live, "chain.pem")


# --- pytest fixture bodies --------------------------------------------------------------------

SERVER_TOOLS = ("named", "named-checkconf", "tsig-keygen", "nsupdate", "dig", "pebble", "openssl")


def skip_unless(*names):
    import pytest
    missing = missing_binaries(*names)
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (scripts/install-deps.sh test)")


def running_bind9(prefix):
    """Generator for a fixture: a started Bind9 in a workspace of its own (named takes the
    directory over as user `bind` when the tests run as root); stopped and removed after."""
    import pytest
    skip_unless(*SERVER_TOOLS)
    ws = Workspace(prefix)
    server = Bind9(ws.path)
    try:
        try:
            server.start()
        except HarnessError as e:
            pytest.fail(str(e), pytrace=False)
        yield server
    finally:
        try:
            server.stop()
        finally:
            ws.cleanup()


def running_pebble(prefix, bind9, **kw):
    """Generator for a fixture: a started Pebble resolving through `bind9`; `kw` goes to
    Pebble() (env, validity_seconds, ...)."""
    import pytest
    ws = Workspace(prefix)
    server = None
    try:
        try:
            server = Pebble(ws.path, bind9.port, **kw).start()
        except HarnessError as e:
            pytest.fail(str(e), pytrace=False)
        yield server
    finally:
        try:
            if server is not None:
                server.stop()
        finally:
            ws.cleanup()
