"""Server-side configuration owns everything that executes or reaches the network (issue #13,
docs/security.md "Server configuration"), end to end with the real certfleetd, certfleet, Pebble
and BIND9:

- exec solver programs are named only in certfleetd.toml: a path or arguments from the API are
  refused for every role (system admin included) and nothing runs; a configured program runs only
  for the accounts it names (it issues a real certificate through Pebble and BIND9 for one, is
  refused for another, also when a row stored by an older version names a path, and again after
  a restart that removes the account from the configuration);
- certfleetd refuses to start with a configuration file others can write or another user owns;
- private networks are per account: webhooks with --allow-private-address and ACME directories
  on loopback are refused for an account the configuration does not allow, with one generic
  message (an open and a closed port answer the same), and work for one it allows;
- connections beyond max_connections_per_address are closed at accept while earlier ones keep
  working, and are counted in /metrics.
"""

import json
import os
import re
import socket
import sqlite3
import ssl
import stat
import subprocess

import pytest

import acme_servers
from agents import wait_until
from conftest import (Cli, Server, Workspace, _free_port, assert_cli_denied, claim_domain,
                      create_account, create_principal, unique_name)
from receiver import Receiver, subscribe

ISSUE_TIMEOUT_S = 180.0
TRUSTED = "team-a"  # may use the "marker" program and reach loopback
OTHER = "team-b"  # neither


@pytest.fixture(scope="module")
def bind9():
    yield from acme_servers.running_bind9("certfleet-e2e-srvcfg-bind-")


@pytest.fixture(scope="module")
def pebble(bind9):
    yield from acme_servers.running_pebble("certfleet-e2e-srvcfg-pebble-", bind9)


def _marker_program(ws, bind9):
    """A dns-01 hook that plants the TXT value in BIND9 with nsupdate and appends each call to
    a marker file, so the test sees that (and for what) it ran."""
    marker = ws.sub("marker-calls.txt")
    path = ws.sub("marker-hook.py")
    with open(path, "w") as f:
        f.write(f"""#!/usr/bin/python3
import json, subprocess, sys
req = json.load(sys.stdin)
with open({marker!r}, "a") as m:
    m.write(req["action"] + " " + req["fqdn"] + "\\n")
op = "add" if req["action"] == "present" else "delete"
ttl = "60 " if op == "add" else ""
cmd = ("server 127.0.0.1 {bind9.port}\\nzone example.test\\n"
       "update " + op + " " + req["fqdn"] + ". " + ttl + 'TXT "' + req["value"] + '"\\nsend\\n')
r = subprocess.run(["nsupdate", "-k", {bind9.tsig_key_path!r}], input=cmd, text=True,
                   capture_output=True)
if r.returncode != 0:
    print(json.dumps({{"ok": False, "error": r.stderr[-300:]}}))
else:
    print(json.dumps({{"ok": True}}))
""")
    os.chmod(path, stat.S_IRWXU)
    return path, marker


def _evil_script(ws):
    """What an attacker would like certfleetd to run: it leaves a marker when it runs."""
    marker = ws.sub("pwned")
    path = ws.sub("evil.sh")
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\ntouch {marker}\ncat >/dev/null\necho '{{\"ok\":true}}'\n")
    os.chmod(path, stat.S_IRWXU)
    return path, marker


def _config(program, accounts=(TRUSTED,)):
    names = ", ".join(f'"{a}"' for a in accounts)
    return (f'max_connections_per_address = 64\n\n'
            f'[exec_solvers.marker]\nprogram = "{program}"\ntimeout = "30s"\n'
            f'accounts = [{names}]\n\n'
            f'[[outbound.allow]]\naccounts = ["{TRUSTED}"]\n'
            f'networks = ["127.0.0.0/8", "::1/128"]\n')


class Env:
    def __init__(self, certfleetd_bin, certfleet_bin, bind9, pebble):
        self.ws = Workspace("certfleet-e2e-srvcfg-")
        self.bind9, self.pebble = bind9, pebble
        self.program, self.marker = _marker_program(self.ws, bind9)
        self.evil, self.pwned = _evil_script(self.ws)
        self.server = Server(certfleetd_bin, self.ws.sub("data"))
        os.mkdir(self.server.data_dir, 0o700)
        self.server.extra_args = ["--pkcs8-iterations", "10000"]
        self.server.config = _config(self.program)
        self.server.start()
        self.cli = Cli(certfleet_bin, self.server)  # the bootstrap admin: a system admin
        self.trusted = create_account(self.cli, TRUSTED)["id"]
        self.other = create_account(self.cli, OTHER)["id"]
        # create_account claims example.test for both; the internal CA issues under internal.test.
        claim_domain(self.cli, TRUSTED, "internal.test")
        self.admin = create_principal(self.cli, self.ws, self.trusted, "admin")
        self.other_admin = create_principal(self.cli, self.ws, self.other, "admin")
        self.trust = self.ws.sub("pebble-listener-ca.pem")
        with open(pebble.ca_file) as src, open(self.trust, "w") as dst:
            dst.write(src.read())

    def close(self):
        try:
            self.server.stop()
        finally:
            self.ws.cleanup()


@pytest.fixture(scope="module")
def env(certfleetd_bin, certfleet_bin, bind9, pebble):
    e = Env(certfleetd_bin, certfleet_bin, bind9, pebble)
    yield e
    e.close()


def _solver(cli, account, name, *extra, check=False):
    return cli.run("solver", "create", "exec", "--name", name, "--account", account, *extra,
                   check=check)


def test_exec_paths_and_arguments_are_refused_for_every_role(env):
    """An account admin and a system admin: /bin/sh, an absolute script, a relative path and any
    argument are refused with the reason, and nothing ever runs."""
    for who, cli in (("account admin", env.admin.cli), ("system admin", env.cli)):
        for extra in (["--program", "/bin/sh", "--arg=-c", "--arg", f"touch {env.pwned}"],
                      ["--program", "/bin/sh"],
                      ["--program", env.evil],
                      ["--program", "./evil.sh"],
                      ["--program", "marker", "--arg=--zone"],
                      ["--program", "marker", "--arg=-c", "--arg", f"touch {env.pwned}"]):
            proc = _solver(cli, env.trusted, unique_name("x"), *extra)
            assert proc.returncode == 1, (who, extra, proc.stdout, proc.stderr)
            assert "(HTTP 400)" in proc.stderr, (who, extra, proc.stderr)
            assert "certfleetd's configuration" in proc.stderr, (who, extra, proc.stderr)
    # The raw API too: no field gets a path or an argument through.
    for body in ({"type": "exec", "name": "raw1", "program": "/bin/sh", "args": ["-c", "id"]},
                 {"type": "exec", "name": "raw2", "program": env.evil},
                 {"type": "exec", "name": "raw3", "program": "marker", "args": ["x"]}):
        r = env.server.request("POST", "/v1/solvers", dict(body, account=env.trusted))
        assert r.status == 400, r
    listed = env.admin.cli.json("solver", "list")["items"]
    assert listed == [], listed
    assert not os.path.exists(env.pwned)


def test_configured_program_runs_only_for_the_accounts_it_names(env):
    """team-b may not use "marker" (403 exec.not_allowed, like an unknown name); team-a issues a
    certificate from Pebble through it (dns-01 planted in BIND9 by the program)."""
    for program in ("marker", "no-such-program"):
        proc = _solver(env.other_admin.cli, env.other, unique_name("s"), "--program", program)
        assert_cli_denied(proc, 403, "exec.not_allowed")
    # Even the system admin cannot give team-b a program the configuration does not list for it.
    proc = _solver(env.cli, env.other, unique_name("s"), "--program", "marker")
    assert_cli_denied(proc, 403, "exec.not_allowed")

    solver = env.admin.cli.json("solver", "create", "exec", "--name", "hook", "--account",
                                env.trusted, "--program", "marker")
    assert solver["config"] == {"program": "marker"}, solver
    env.admin.cli.json("issuer", "create", "acme", "--name", "pebble", "--account", env.trusted,
                       "--directory", env.pebble.directory_url, "--trust", env.trust,
                       "--solver", "hook")
    domain = f"{unique_name('exec')}.example.test"
    cert = env.admin.cli.json("cert", "request", "--name", unique_name("c"), "--issuer", "pebble",
                              "--domain", domain, "--wait", "--wait-timeout", "3m")
    assert cert["status"] == "issued", cert
    with open(env.marker) as f:
        calls = f.read().splitlines()
    assert f"present _acme-challenge.{domain}" in calls, calls
    wait_until(lambda: f"cleanup _acme-challenge.{domain}" in open(env.marker).read(), 60,
               "the program's cleanup call", lambda: env.server.log_tail(20))


def _insert_legacy_solver(env, name, program, args):
    """A solver row as versions before issue #13 stored it: a program path and arguments."""
    db = sqlite3.connect(env.server.db_path, timeout=30)
    try:
        db.execute(
            "INSERT INTO acme_configs (id, account_id, kind, name, type, config_json, created_by,"
            " created_at, updated_at) SELECT ?, account_id, kind, ?, type, ?, created_by,"
            " created_at, updated_at FROM acme_configs WHERE account_id = ? AND name = 'hook'",
            (f"acm_legacy{unique_name('x').replace('-', '')}", name,
             json.dumps({"program": program, "args": args, "timeout_seconds": 30}),
             env.trusted))
        db.commit()
    finally:
        db.close()


def _request_fails(env, issuer, rule):
    domain = f"{unique_name('no')}.example.test"
    proc = env.admin.cli.run("cert", "request", "--name", unique_name("c"), "--issuer", issuer,
                             "--domain", domain, "--wait", "--wait-timeout", "3m", "--json",
                             check=False)
    assert proc.returncode != 0, proc.stdout
    cert = [c for c in env.admin.cli.json("cert", "list")["items"] if c["domains"] == [domain]][0]
    cert = env.admin.cli.json("cert", "show", cert["id"])
    assert cert["status"] == "failed", cert
    assert f"rule {rule}" in cert["status_detail"], cert
    return domain


def test_stored_paths_and_removed_accounts_do_not_run(env, certfleet_bin):
    """Checked at use time: a row an older version stored with /bin/sh or a script path does not
    run; after a restart whose configuration no longer lists team-a, its solver stops too."""
    if not os.path.exists(env.marker):
        pytest.skip("needs test_configured_program_runs_only_for_the_accounts_it_names first")
    _insert_legacy_solver(env, "legacy-sh", "/bin/sh", ["-c", f"touch {env.pwned}"])
    _insert_legacy_solver(env, "legacy-evil", env.evil, [])
    for name in ("legacy-sh", "legacy-evil"):
        env.admin.cli.json("issuer", "create", "acme", "--name", f"ca-{name}", "--account",
                           env.trusted, "--directory", env.pebble.directory_url, "--trust",
                           env.trust, "--solver", name)
        _request_fails(env, f"ca-{name}", "exec.not_allowed")
    assert not os.path.exists(env.pwned)
    # A row stored with exactly the configured path (and no arguments) still works.
    _insert_legacy_solver(env, "legacy-same", env.program, [])
    env.admin.cli.json("issuer", "create", "acme", "--name", "ca-legacy-same", "--account",
                       env.trusted, "--directory", env.pebble.directory_url, "--trust",
                       env.trust, "--solver", "legacy-same")
    domain = f"{unique_name('same')}.example.test"
    cert = env.admin.cli.json("cert", "request", "--name", unique_name("c"), "--issuer",
                              "ca-legacy-same", "--domain", domain, "--wait", "--wait-timeout",
                              "3m")
    assert cert["status"] == "issued", cert

    # The configuration changes: "marker" is for another account now.
    env.server.stop()
    env.server.config = _config(env.program, accounts=("someone-else",))
    env.server.start(same_port=True)
    before = open(env.marker).read()
    _request_fails(env, "pebble", "exec.not_allowed")
    assert open(env.marker).read() == before  # the program did not run
    env.server.stop()
    env.server.config = _config(env.program)
    env.server.start(same_port=True)


def _start_refused(certfleetd_bin, ws, config_mode, owner=None):
    data = ws.sub(unique_name("data"))
    os.mkdir(data, 0o700)
    path = os.path.join(data, "certfleetd.toml")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write('[[outbound.allow]]\naccounts = ["*"]\nnetworks = ["0.0.0.0/0"]\n')
    os.chmod(path, config_mode)
    if owner is not None:
        os.chown(path, owner, owner)
    proc = subprocess.run([certfleetd_bin, "--config", path, "--data-dir", data, "--listen",
                           f"127.0.0.1:{_free_port()}"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    return proc, data


def test_worker_threads_out_of_range_are_refused(certfleetd_bin):
    ws = Workspace("certfleet-e2e-srvcfg-workers-")
    try:
        for value in ("0", "-3", "1025"):
            data = ws.sub(unique_name("data"))
            os.mkdir(data, 0o700)
            proc = subprocess.run([certfleetd_bin, "--data-dir", data, "--listen",
                                   f"127.0.0.1:{_free_port()}", "--worker-threads", value],
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=60)
            assert proc.returncode != 0 and "--worker-threads" in proc.stderr, proc.stderr
            path = os.path.join(data, "certfleetd.toml")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(f"worker_threads = {value}\n")
            proc = subprocess.run([certfleetd_bin, "--config", path, "--data-dir", data,
                                   "--listen", f"127.0.0.1:{_free_port()}"],
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=60)
            assert proc.returncode != 0, proc.stdout
            assert "worker_threads must be 1 to 1024" in proc.stderr, proc.stderr
            assert not os.path.exists(os.path.join(data, "ca.pem"))  # stopped before anything
    finally:
        ws.cleanup()


def test_certfleetd_refuses_a_config_others_can_write(certfleetd_bin):
    ws = Workspace("certfleet-e2e-srvcfg-perm-")
    try:
        for mode in (0o660, 0o620, 0o602):
            proc, data = _start_refused(certfleetd_bin, ws, mode)
            assert proc.returncode != 0, proc.stdout
            assert "writable by group or others" in proc.stderr, proc.stderr
            assert not os.path.exists(os.path.join(data, "ca.pem"))  # stopped before anything
        if os.geteuid() == 0:
            proc, _ = _start_refused(certfleetd_bin, ws, 0o600, owner=65534)
            assert proc.returncode != 0, proc.stdout
            assert "owned by uid 65534" in proc.stderr, proc.stderr
    finally:
        ws.cleanup()


def test_webhook_private_address_needs_the_server_configuration(env):
    """team-b (not in [[outbound.allow]]) gets 403; team-a's webhook on loopback is created and
    receives events."""
    receiver = Receiver()
    try:
        proc = env.other_admin.cli.run(
            "webhook", "create", "--url", receiver.url, "--type", "certificate.*",
            "--secret-file", _secret(env), "--allow-private-address", "--account", env.other,
            check=False)
        assert_cli_denied(proc, 403, "network.private_not_allowed")
        # The system admin cannot grant it either.
        proc = env.cli.run("webhook", "create", "--url", receiver.url, "--type", "certificate.*",
                           "--secret-file", _secret(env), "--allow-private-address",
                           "--account", env.other, check=False)
        assert_cli_denied(proc, 403, "network.private_not_allowed")

        subscribe(env.admin.cli, env.ws, receiver.url, ["certificate.issued"],
                  account=env.trusted)
        cert = env.admin.cli.json("cert", "request", "--name", unique_name("w"), "--domain",
                                  f"{unique_name('w')}.internal.test")
        receiver.wait(lambda r: json.loads(r["body"])["subject"] == cert["id"],
                      "certificate.issued to team-a's loopback webhook")
    finally:
        receiver.close()


def _secret(env):
    path = env.ws.sub(f"{unique_name('secret')}.txt")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("0123456789abcdef0123456789abcdef\n")
    return path


def test_acme_directory_on_loopback_is_per_account_and_says_nothing_more(env):
    """team-b: Pebble's open port and a closed one get the very same 403 (no port scanner);
    its rfc2136 server on loopback too. team-a: the issuer is created."""
    details = []
    for url in (env.pebble.directory_url, "https://127.0.0.1:1/dir"):
        r = env.other_admin.cli.run("issuer", "create", "acme", "--name", unique_name("i"),
                                    "--account", env.other, "--directory", url, "--trust",
                                    env.trust, "--solver", "http01", check=False)
        assert_cli_denied(r, 403, "network.private_not_allowed")
        details.append(r.stderr.replace(url, "URL"))
        assert "refused" not in r.stderr.lower().replace("refused: certfleetd", ""), r.stderr
    assert details[0] == details[1], details
    proc = env.other_admin.cli.run("solver", "create", "rfc2136", "--name", unique_name("d"),
                                   "--account", env.other, "--server",
                                   f"127.0.0.1:{env.bind9.port}", "--tsig-key-file",
                                   env.bind9.tsig_key_path, check=False)
    assert_cli_denied(proc, 403, "network.private_not_allowed")

    issuer = env.admin.cli.json("issuer", "create", "acme", "--name", unique_name("ok"),
                                "--account", env.trusted, "--directory",
                                env.pebble.directory_url, "--trust", env.trust, "--solver",
                                "http01")
    assert issuer["config"]["account_url"].startswith("https://127.0.0.1:"), issuer


def _tls_connect(server):
    ctx = ssl.create_default_context(cafile=server.ca_path)
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def _healthz(sock):
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    return sock.recv(4096)


def test_connections_beyond_the_per_address_limit_are_refused(env):
    """max_connections_per_address = 64 (config): the 65th connection from 127.0.0.1 is closed
    at accept, the first 64 still answer, and /metrics counts the refusal."""
    held = []
    try:
        for _ in range(64):
            held.append(_tls_connect(env.server))
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            extra = _tls_connect(env.server)
            # TLS 1.3 may finish the client side first; the close shows on the first read.
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            if not extra.recv(4096):
                raise ConnectionError("closed by the server")
        for s in (held[0], held[-1]):
            assert _healthz(s).startswith(b"HTTP/1.1 200"), "an earlier connection stopped"
    finally:
        for s in held:
            s.close()

    def scraped():
        try:
            r = env.server.request("GET", "/metrics", timeout=10)
        except (OSError, ssl.SSLError):
            return None  # the server may not have seen the closes yet
        if r.status != 200:
            return None
        m = re.search(rb'certfleet_connections_refused_total\{limit="max_connections_per_address"\}'
                      rb' (\d+)', r.body)
        return int(m.group(1)) if m and int(m.group(1)) >= 1 else None
    assert wait_until(scraped, 30, "the refusal in /metrics") >= 1
