"""Harness for the agent and deployment tests (docs/agents.md, issue #4): real nginx instances on
loopback and real certfleet-agent processes, each in its own directory under the test's tmp dir.

  Nginx        one nginx master (not a daemon) on a free loopback port, with its own prefix and
               configuration, serving TLS from the files an agent profile writes. It starts on a
               self-signed certificate made with openssl, so that it can start before any
               deployment. Stopped with SIGTERM at teardown.
  Agent        one certfleet-agent: its own state dir, allowed root, TOML config and (by default)
               its own Nginx. Enrolls with a one-time token made with `certfleet agent token
               create`, logs to a file, stopped with SIGTERM at teardown (exit 0 is asserted).
  served_serial(port, sni)
               the serial nginx serves, read with `openssl s_client | openssl x509 -serial`.

Nothing here sleeps to let time pass: every wait polls a condition with a bound.
"""

import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import time

import pytest

from conftest import (_clean_env, _find_binary, _free_port, kill_process, stop_process,
                      write_private_file)

NGINX = "/usr/sbin/nginx"
OPENSSL = "openssl"
SNI = "app.example.test"
FILE_NAME = "app"  # the profile's `name`: app-fullchain.pem, app-chain.pem, app-privkey.pem

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
POLL_S = 0.05
TOOL_TIMEOUT_S = 20.0


def wait_until(predicate, timeout, what, on_timeout=None):
    """Polls `predicate` until it returns something truthy (returned) or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = on_timeout() if on_timeout else ""
            pytest.fail(f"timed out after {timeout}s waiting for {what}\n{detail}", pytrace=False)
        time.sleep(POLL_S)  # bounded poll of a condition


def normalize_serial(serial):
    """Hex serial in one form: upper case, no colons, no leading zeros ("serial=" dropped)."""
    s = serial.strip()
    if s.lower().startswith("serial="):
        s = s[len("serial="):]
    s = s.replace(":", "").upper().lstrip("0")
    return s or "0"


def _tool(*argv, input=None, check=True):
    proc = subprocess.run(list(argv), input=input, capture_output=True, timeout=TOOL_TIMEOUT_S,
                          stdin=None if input is not None else subprocess.DEVNULL)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(argv)} exited {proc.returncode}: "
                    f"{proc.stderr.decode(errors='replace')}", pytrace=False)
    return proc


def served_serial(port, sni=SNI, check=True):
    """The serial of the certificate served on 127.0.0.1:port for `sni`, normalized; None when
    no certificate could be read and check=False."""
    hello = subprocess.run([OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-servername",
                            sni], stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=TOOL_TIMEOUT_S)
    x509 = subprocess.run([OPENSSL, "x509", "-noout", "-serial"], input=hello.stdout,
                          capture_output=True, timeout=TOOL_TIMEOUT_S)
    if x509.returncode != 0:
        if not check:
            return None
        pytest.fail(f"no certificate served on 127.0.0.1:{port} (sni {sni}): "
                    f"{hello.stderr.decode(errors='replace')[-500:]}", pytrace=False)
    return normalize_serial(x509.stdout.decode())


def file_serial(cert_path):
    """The serial of the first certificate in a PEM file, normalized."""
    return normalize_serial(_tool(OPENSSL, "x509", "-in", cert_path, "-noout",
                                  "-serial").stdout.decode())


def cert_pubkey(cert_path):
    return _tool(OPENSSL, "x509", "-in", cert_path, "-noout", "-pubkey").stdout


def key_pubkey(key_path, passfile=None):
    argv = [OPENSSL, "pkey", "-in", key_path, "-pubout"]
    argv += ["-passin", f"file:{passfile}"] if passfile else ["-passin", "pass:"]
    return _tool(*argv).stdout


def pair_matches(cert_path, key_path, passfile=None):
    """The key opens (with `passfile` when encrypted) and belongs to the first certificate."""
    cert = cert_pubkey(cert_path)
    key = key_pubkey(key_path, passfile)
    return bool(cert) and cert == key


def _listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, int):
        return str(value)
    # JSON string escapes are valid TOML basic-string escapes.
    return json.dumps(str(value))


def agent_toml(allowed_roots, profiles, http01=None):
    """The agent configuration text: allowed_roots, one [profiles.NAME] table per entry and,
    with `http01` (a dict: webroot and/or listen), an [http01] table."""
    lines = [f"allowed_roots = {_toml_value(allowed_roots)}", ""]
    for name, keys in profiles.items():
        lines.append(f"[profiles.{_toml_value(name)}]")
        for key, value in keys.items():
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    if http01:
        lines.append("[http01]")
        for key, value in http01.items():
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


class Nginx:
    """One nginx master on 127.0.0.1:<free port>, serving <cert_dir>/app-fullchain.pem with
    <key_dir>/app-privkey.pem. Its prefix holds the configuration, the pid file and the logs."""

    def __init__(self, prefix, cert_dir, key_dir, sni=SNI):
        self.prefix = prefix
        self.cert_dir = cert_dir
        self.key_dir = key_dir
        self.sni = sni
        self.conf = os.path.join(prefix, "nginx.conf")
        self.error_log = os.path.join(prefix, "logs", "error.log")
        self.pid_file = os.path.join(prefix, "nginx.pid")
        self.port = None
        self.proc = None
        self.initial_serial = None
        self.password_file = None  # ssl_password_file, for profiles with key_encrypted
        os.makedirs(os.path.join(prefix, "logs"), exist_ok=True)
        os.makedirs(cert_dir, exist_ok=True)
        os.makedirs(key_dir, mode=0o700, exist_ok=True)

    @property
    def cert_path(self):
        return os.path.join(self.cert_dir, f"{FILE_NAME}-fullchain.pem")

    @property
    def chain_path(self):
        return os.path.join(self.cert_dir, f"{FILE_NAME}-chain.pem")

    @property
    def key_path(self):
        return os.path.join(self.key_dir, f"{FILE_NAME}-privkey.pem")

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def base_argv(self):
        """nginx with this instance's prefix, configuration and error log."""
        return [NGINX, "-e", self.error_log, "-p", self.prefix, "-c", self.conf]

    def test_argv(self, conf=None):
        argv = self.base_argv()
        if conf:
            argv[argv.index(self.conf)] = conf
        return argv + ["-t", "-q"]

    def reload_argv(self):
        return self.base_argv() + ["-s", "reload"]

    def make_initial_cert(self):
        """A self-signed P-256 certificate for the SNI name, valid ten years, written where the
        agent's profile writes; returns its serial."""
        _tool(OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-nodes", "-subj", f"/CN={self.sni}", "-days", "3650", "-keyout", self.key_path,
              "-out", self.cert_path)
        os.chmod(self.key_path, 0o600)
        self.initial_serial = file_serial(self.cert_path)
        return self.initial_serial

    def config_text(self, cert_path=None, key_path=None):
        p = self.prefix
        lines = []
        if os.geteuid() == 0:
            # As root the workers would otherwise switch to nobody, who cannot use this prefix.
            lines.append("user root;")
        lines += [
            "daemon off;",
            "worker_processes 1;",
            f"pid {p}/nginx.pid;",
            f"error_log {self.error_log};",
            "events { worker_connections 64; }",
            "http {",
            "  access_log off;",
            f"  client_body_temp_path {p}/tmp_body;",
            f"  proxy_temp_path {p}/tmp_proxy;",
            f"  fastcgi_temp_path {p}/tmp_fcgi;",
            f"  uwsgi_temp_path {p}/tmp_uwsgi;",
            f"  scgi_temp_path {p}/tmp_scgi;",
            "  server {",
            f"    listen 127.0.0.1:{self.port} ssl;",
            f"    server_name {self.sni};",
            f"    ssl_certificate {cert_path or self.cert_path};",
            f"    ssl_certificate_key {key_path or self.key_path};",
        ]
        if self.password_file:
            lines.append(f"    ssl_password_file {self.password_file};")
        lines += [
            '    return 200 "ok";',
            "  }",
            "}",
            "",
        ]
        return "\n".join(lines)

    def write_config(self, path=None, **kw):
        with open(path or self.conf, "w") as f:
            f.write(self.config_text(**kw))
        return path or self.conf

    def use_encrypted_key(self):
        """Serve through ssl_password_file <key_dir>/app-passphrase (the key_encrypted layout).
        The initial key stays unencrypted; nginx only needs the file to exist."""
        self.password_file = os.path.join(self.key_dir, f"{FILE_NAME}-passphrase")
        if not os.path.exists(self.password_file):
            write_private_file(self.password_file, "initial-unused\n")

    def start(self):
        assert self.proc is None, "nginx already running"
        if not os.path.exists(self.cert_path):
            self.make_initial_cert()
        last = ""
        for _ in range(5):
            self.port = _free_port()
            self.write_config()
            with open(os.path.join(self.prefix, "logs", "stderr.log"), "ab") as err:
                self.proc = subprocess.Popen(self.base_argv(), stdin=subprocess.DEVNULL,
                                             stdout=err, stderr=err, start_new_session=True)
            deadline = time.monotonic() + START_TIMEOUT_S
            while time.monotonic() < deadline and self.proc.poll() is None:
                if os.path.exists(self.pid_file) and _listening(self.port):
                    return self
                time.sleep(POLL_S)  # bounded poll for the listener
            if self.proc.poll() is None:
                self._kill()
                pytest.fail(f"nginx not listening within {START_TIMEOUT_S}s:\n{self.log_tail()}",
                            pytrace=False)
            self.proc = None
            last = self.log_tail()
            if "in use" not in last:
                break
        pytest.fail(f"nginx exited during start-up:\n{last}", pytrace=False)

    def served_serial(self, check=True):
        return served_serial(self.port, self.sni, check=check)

    def log_tail(self, n=30):
        out = []
        for name in ("stderr.log", "error.log"):
            try:
                with open(os.path.join(self.prefix, "logs", name), errors="replace") as f:
                    out += f.read().splitlines()[-n:]
            except OSError:
                pass
        return "\n".join(out)

    def stop(self):
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # fast shutdown of master and workers
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=STOP_TIMEOUT_S)
        return proc.returncode

    def _kill(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        self.proc = None


class Agent:
    """One certfleet-agent with its own directory:
         <base>/state       --state-dir (created by the agent)
         <base>/root        the only allowed root; <root>/tls and <root>/tls/private
         <base>/nginx       the nginx prefix (when the agent has an nginx)
         <base>/agent.toml  the configuration, <base>/enroll.token (0600), <base>/agent.log
    """

    def __init__(self, binary, server, base, account, tags, profiles=None, nginx=True,
                 allowed_roots=None):
        self.binary = binary
        self.server = server
        self.base = base
        self.account = account
        self.tags = dict(tags)
        self.state_dir = os.path.join(base, "state")
        self.root = os.path.join(base, "root")
        self.config_path = os.path.join(base, "agent.toml")
        self.token_path = os.path.join(base, "enroll.token")
        self.log_path = os.path.join(base, "agent.log")
        self.cwd = os.path.join(base, "cwd")  # where the agent runs; must stay empty
        self.extra_args = []  # more certfleet-agent flags, e.g. ["--bundle-roots", path]
        self.http01 = None  # the [http01] table of the configuration, e.g. {"webroot": path}
        self.proc = None
        self.token = None
        self.enrollment = None  # the JSON of `certfleet agent token create --json`
        os.makedirs(self.root, mode=0o755, exist_ok=True)
        os.makedirs(self.cwd, mode=0o755, exist_ok=True)
        self.nginx = None
        if nginx:
            self.nginx = Nginx(os.path.join(base, "nginx"), os.path.join(self.root, "tls"),
                               os.path.join(self.root, "tls", "private"))
        self.allowed_roots = allowed_roots or [self.root]
        self.profiles = {}
        if self.nginx is not None:
            self.profiles["nginx"] = self.nginx_profile()
        self.profiles.update(profiles or {})

    def nginx_profile(self, **overrides):
        """The `nginx` profile: files into the nginx's directories, nginx -t, reload, verify."""
        n = self.nginx
        profile = {
            "installer": "nginx",
            "cert_dir": n.cert_dir,
            "key_dir": n.key_dir,
            "name": FILE_NAME,
            "test": n.test_argv(),
            "reload": n.reload_argv(),
            "reload_timeout": "20s",
            # verify_address needs the port, known once nginx runs: filled in by write_config.
            "verify_address": None,
            "verify_sni": n.sni,
        }
        profile.update(overrides)
        return profile

    def write_config(self):
        profiles = {}
        for name, keys in self.profiles.items():
            keys = dict(keys)
            if keys.get("verify_address", "") is None:
                keys["verify_address"] = self.nginx.address
            profiles[name] = {k: v for k, v in keys.items() if v is not None}
        with open(self.config_path, "w") as f:
            f.write(agent_toml(self.allowed_roots, profiles, self.http01))
        os.chmod(self.config_path, 0o600)

    # --- enrollment ---------------------------------------------------------------------------

    def create_token(self, cli, expires=None):
        """`certfleet agent token create --json` for this agent's account and tags; the token
        goes to a new 0600 file."""
        args = ["agent", "token", "create", "--account", self.account]
        for key, value in self.tags.items():
            args += ["--tag", f"{key}={value}"]
        if expires:
            args += ["--expires", expires]
        self.enrollment = cli.json(*args)
        self.token = self.enrollment["token"]
        assert self.token, self.enrollment
        if os.path.exists(self.token_path):
            os.unlink(self.token_path)
        write_private_file(self.token_path, self.token + "\n")
        return self.token

    # --- process ------------------------------------------------------------------------------

    def argv(self):
        return [self.binary, "--server", self.server.url, "--ca", self.server.ca_path,
                "--state-dir", self.state_dir, "--config", self.config_path,
                "--enroll-token-file", self.token_path] + list(self.extra_args)

    def start(self, failpoint=None, wait_enrolled=True, extra_env=None):
        assert self.proc is None, "agent already running"
        if self.nginx is not None and self.nginx.proc is None:
            self.nginx.start()
        self.write_config()
        env = _clean_env()
        if failpoint:
            env["CERTFLEET_FAILPOINT"] = failpoint
        env.update(extra_env or {})
        with open(self.log_path, "ab") as log:
            log.write(f"--- start failpoint={failpoint}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, env=env, cwd=self.cwd,
                                         start_new_session=True)
        if wait_enrolled:
            self.wait_enrolled()
        return self

    @property
    def cert_path(self):
        return os.path.join(self.state_dir, "agent.crt")

    @property
    def key_path(self):
        return os.path.join(self.state_dir, "agent.key")

    @property
    def chain_path(self):
        return os.path.join(self.state_dir, "agent-chain.pem")

    def state(self):
        try:
            with open(os.path.join(self.state_dir, "state.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    @property
    def id(self):
        state = self.state() or {}
        for key in ("agent_id", "id", "agent"):
            if isinstance(state.get(key), str) and state[key].startswith("agt_"):
                return state[key]
        # The client certificate's subject CN is the agent id (docs/agents.md).
        if os.path.exists(self.cert_path):
            subject = _tool(OPENSSL, "x509", "-in", self.cert_path, "-noout", "-subject",
                            "-nameopt", "multiline").stdout.decode()
            for line in subject.splitlines():
                name, _, value = line.strip().partition("=")
                if name.strip() == "commonName" and value.strip().startswith("agt_"):
                    return value.strip()
        return None

    def wait_enrolled(self, timeout=START_TIMEOUT_S):
        def enrolled():
            if self.proc is not None and self.proc.poll() is not None:
                pytest.fail(f"certfleet-agent exited {self.proc.returncode} before enrolling:\n"
                            + self.log_tail(), pytrace=False)
            return os.path.exists(self.cert_path) and self.id
        return wait_until(enrolled, timeout, "the agent to enroll", self.log_tail)

    def wait_exit(self, timeout=START_TIMEOUT_S):
        """Waits for the process to end by itself (e.g. killed by a failpoint); its status."""
        assert self.proc is not None
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"certfleet-agent still running after {timeout}s:\n" + self.log_tail(),
                        pytrace=False)
        self.proc = None
        return rc

    def stop(self):
        """SIGTERM and wait; returns the exit status (None if it was not running)."""
        proc, self.proc = self.proc, None
        return stop_process(proc, "certfleet-agent", self.log_tail)

    def kill(self):
        kill_process(self.proc)
        self.proc = None

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, n=40):
        return "agent log tail:\n" + "\n".join(self.log_text().splitlines()[-n:])

    # --- mutual TLS as this agent ------------------------------------------------------------

    def ssl_context(self, cert_path=None):
        """Trusts the server's CA; presents `cert_path` (default the agent's certificate) with
        the agent's chain and key."""
        ctx = ssl.create_default_context(cafile=self.server.ca_path)
        bundle = os.path.join(self.base, "client-bundle.pem")
        with open(cert_path or self.cert_path, "rb") as c, open(bundle, "wb") as out:
            out.write(c.read())
            if os.path.exists(self.chain_path):
                with open(self.chain_path, "rb") as chain:
                    out.write(b"\n" + chain.read())
        ctx.load_cert_chain(bundle, self.key_path)
        return ctx

    def request(self, method, path, body=None, timeout=30, cert_path=None):
        """An agent-protocol request with this agent's client certificate (no bearer token)."""
        from conftest import ApiResponse
        headers = {"Accept": "application/json"}
        if body is not None:
            body = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPSConnection("127.0.0.1", self.server.port, timeout=timeout,
                                           context=self.ssl_context(cert_path))
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return ApiResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        finally:
            conn.close()

    # --- what is installed --------------------------------------------------------------------

    def live_pair_matches(self):
        n = self.nginx
        return pair_matches(n.cert_path, n.key_path)

    def live_serial(self):
        return file_serial(self.nginx.cert_path)


def make_csr(directory, name="enroll"):
    """A fresh P-256 key and CSR made with openssl; returns the CSR PEM (str)."""
    key = os.path.join(directory, f"{name}.key")
    csr = os.path.join(directory, f"{name}.csr")
    _tool(OPENSSL, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
          "-nodes", "-subj", f"/CN={name}", "-keyout", key, "-out", csr)
    with open(csr) as f:
        return f.read()


class AgentFactory:
    """Makes agents (and their nginx) in one test's work dir; stops everything at teardown."""

    def __init__(self, server, cli, workdir):
        self.server = server
        self.cli = cli
        self.workdir = workdir
        self.binary = _find_binary("certfleet-agent")
        self.agents = []
        self.count = 0

    def __call__(self, account, tags, start=True, failpoint=None, profiles=None, nginx=True,
                 name=None, allowed_roots=None, cli=None):
        self.count += 1
        base = self.workdir.sub(name or f"agent{self.count}")
        os.makedirs(base, mode=0o755)
        agent = Agent(self.binary, self.server, base, account, tags, profiles=profiles,
                      nginx=nginx, allowed_roots=allowed_roots)
        self.agents.append(agent)
        agent.create_token(cli or self.cli)
        if start:
            agent.start(failpoint=failpoint)
        return agent

    def teardown(self):
        failures = []
        for agent in self.agents:
            try:
                rc = agent.stop()
                if rc not in (None, 0):
                    failures.append(f"{agent.base}: certfleet-agent exited {rc} on SIGTERM\n"
                                    + agent.log_tail(15))
            finally:
                if agent.nginx is not None:
                    agent.nginx.stop()
        return failures


def start_nginx(directory):
    """A standalone nginx (for harness checks): prefix and files under `directory`."""
    n = Nginx(os.path.join(directory, "nginx"), os.path.join(directory, "root", "tls"),
              os.path.join(directory, "root", "tls", "private"))
    return n.start()
