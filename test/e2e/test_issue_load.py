"""bench/issue_load against a real certfleetd (issue #14, item 6): it issues the certificates it
says it issued, over keep-alive TLS verified against the server's CA, prints `<rate> certs/s` as
its last line, never prints the token, and refuses bad input with a clear message.

The binary is looked up beside certfleetd's build tree (<build>/bench/issue_load). Builds without
benchmarks (the ASan build sets CERTFLEET_BENCH=OFF) have none, and these tests skip there."""

import os
import re
import subprocess

import pytest

from conftest import find_bench_binary, list_all, run_tool, unique_name

LOAD_TIMEOUT_S = 120.0
LAST_LINE = re.compile(r"^\d+(\.\d+)? certs/s")


@pytest.fixture(scope="module")
def issue_load_bin(certfleetd_bin):
    return find_bench_binary(certfleetd_bin, "issue_load")


def run_load(binary, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTFLEET_")}
    return subprocess.run([binary, *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=LOAD_TIMEOUT_S, env=env)


def names_with_prefix(server, prefix):
    return [c for c in list_all(server, "/v1/certificates") if c["name"].startswith(prefix)]


def test_issues_every_certificate_over_keep_alive(server, issue_load_bin):
    prefix = unique_name("e2eload") + "-"
    before = names_with_prefix(server, prefix)
    assert before == []
    proc = run_load(issue_load_bin, "--server", server.url, "--ca", server.ca_path,
                    "--token-file", server.token_path, "--connections", "4", "--requests", "40",
                    "--no-ceiling", "--name-prefix", prefix)
    out = proc.stdout
    assert proc.returncode == 0, (proc.returncode, out, proc.stderr, server.log_tail(15))
    lines = out.strip().splitlines()
    assert LAST_LINE.match(lines[-1]), lines[-1]
    assert "ok=40 non2xx=0 errors=0" in lines[-1], lines[-1]
    # Keep-alive: four connections, four TLS handshakes, none reopened during the load.
    assert "connections: 4 opened" in out and "0 reconnects" in out, out
    assert re.search(r"^latency ms: p50=[\d.]+ p90=[\d.]+ p99=[\d.]+ max=[\d.]+", out, re.M), out
    assert "by status: 201=40" in out, out
    assert "signing ceiling" not in out  # --no-ceiling
    token = server.token()
    assert token not in out and token not in proc.stderr

    issued = names_with_prefix(server, prefix)
    assert len(issued) == 40, [c["name"] for c in issued]
    assert {c["name"] for c in issued} == {f"{prefix}{i}" for i in range(40)}
    for c in issued:
        assert c["status"] == "issued", c
        assert c["domains"] == [f"{c['name']}.example.test"], c
        assert c["key_type"] == "p256" and c["issuer"] == "internal", c


def test_counts_refusals_and_exits_non_zero(server, issue_load_bin):
    # A name the API refuses (docs/api.md: 1-64 of [A-Za-z0-9._-]) is answered 400 every time:
    # the run completes, counts the refusals by status, shows the first body and exits 1.
    proc = run_load(issue_load_bin, "--server", server.url, "--ca", server.ca_path,
                    "--token-file", server.token_path, "--connections", "2", "--requests", "4",
                    "--no-ceiling", "--name-prefix", "bad name ")
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stdout.strip().splitlines()
    assert LAST_LINE.match(lines[-1]) and "ok=0 non2xx=4" in lines[-1], lines[-1]
    assert "by status: 400=4" in proc.stdout, proc.stdout
    assert re.search(r"^first error: HTTP 400: \{.*name", proc.stdout, re.M), proc.stdout


def test_missing_token_file_is_a_clear_error(server, issue_load_bin, workdir):
    missing = workdir.sub("no-such.token")
    proc = run_load(issue_load_bin, "--server", server.url, "--ca", server.ca_path,
                    "--token-file", missing, "--connections", "1", "--requests", "1",
                    "--no-ceiling")
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert f"cannot read the token file {missing}: No such file or directory" in proc.stderr, \
        proc.stderr
    assert "certs/s" not in proc.stdout


def test_server_not_matching_the_ca_is_refused(server, issue_load_bin, workdir):
    # A CA that did not issue the server's certificate: the run stops before any request.
    other_ca = workdir.sub("other-ca.pem")
    run_tool("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", workdir.sub("other-ca.key"), "-out", other_ca,
             "-subj", "/CN=not the certfleet CA", "-days", "1")
    proc = run_load(issue_load_bin, "--server", server.url, "--ca", other_ca,
                    "--token-file", server.token_path, "--connections", "1", "--requests", "1",
                    "--no-ceiling")
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "TLS certificate is not accepted" in proc.stderr, proc.stderr
    assert server.token() not in proc.stderr + proc.stdout


def test_flags_are_checked(server, issue_load_bin):
    proc = run_load(issue_load_bin, "--server", server.url, "--ca", server.ca_path,
                    "--token-file", server.token_path, "--connections", "0", "--requests", "1")
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "--connections must be a number from 1 to" in proc.stderr, proc.stderr
    proc = run_load(issue_load_bin, "--server", server.url, "--ca", server.ca_path,
                    "--connections", "1", "--requests", "1")
    assert proc.returncode == 2 and "--token-file is required" in proc.stderr, proc.stderr
