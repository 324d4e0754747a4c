"""bench/fleet_sim against a real certfleetd (issue #14, item 4): simulated agents enroll with
one-time tokens, long-poll over mutual TLS, fetch bundle and passphrase and report; a renewal
reaches every one of them, and the server records every placement as verified (checked here
through the deployment and inventory API, not through what fleet_sim says). The drill mode gives
each certificate its own agent. Bad input is refused with a clear message.

Nothing here waits for time to pass: a renewal is forced through the API and every step is an
answer to a request. The binary is looked up beside certfleetd's build tree
(<build>/bench/fleet_sim); builds without benchmarks (the ASan build sets CERTFLEET_BENCH=OFF)
have none, and these tests skip there."""

import os
import re
import subprocess

import pytest

from conftest import find_bench_binary, list_all

SIM_TIMEOUT_S = 90.0
AGENTS = 20


@pytest.fixture(scope="module")
def fleet_sim_bin(certfleetd_bin):
    return find_bench_binary(certfleetd_bin, "fleet_sim")


def run_sim(binary, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTFLEET_")}
    return subprocess.run([binary, *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=SIM_TIMEOUT_S, env=env)


def sim_args(server, *more):
    # --phase-timeout bounds every wait inside fleet_sim well below the subprocess timeout, so
    # that a stuck rollout fails with fleet_sim's own message.
    return ["--server", server.url, "--ca", server.ca_path, "--token-file", server.token_path,
            "--threads", "2", "--phase-timeout", "60", "--server-pid", str(server.pid), *more]


def get(server, path):
    resp = server.request("GET", path)
    assert resp.status == 200, (path, resp)
    return resp.json()


def run_id(out):
    m = re.search(r"^fleet_sim: run (fsim-[0-9a-f]{8}), ", out, re.M)
    assert m, out
    return m.group(1)


def agents_of_run(server, run):
    agents = list_all(server, "/v1/agents?tag=fsim:" + run)
    assert len({a["id"] for a in agents}) == len(agents)
    return agents


def test_renewal_reaches_every_simulated_agent(server, fleet_sim_bin):
    proc = run_sim(fleet_sim_bin, *sim_args(server, "--agents", str(AGENTS), "--rounds", "1"))
    out = proc.stdout
    assert proc.returncode == 0, (proc.returncode, out, proc.stderr, server.log_tail(20))
    run = run_id(out)
    assert server.token() not in out + proc.stderr
    assert "cfe_" not in out + proc.stderr  # enrollment tokens are never printed

    # Every simulated agent enrolled, with its own identity and the run's tags.
    agents = agents_of_run(server, run)
    assert len(agents) == AGENTS, agents
    assert {a["hostname"] for a in agents} == {f"{run}-{i}" for i in range(AGENTS)}
    assert {a["tags"]["slot"] for a in agents} == {str(i) for i in range(AGENTS)}
    agent_ids = {a["id"] for a in agents}

    m = re.search(r"^deployment (dep_\S+) of certificate (crt_\S+)$", out, re.M)
    assert m, out
    dep_id, cert_id = m.groups()
    assert re.search(rf"^initial rollout: succeeded {AGENTS}/{AGENTS} targets verified", out,
                     re.M), out
    assert re.search(rf"^round 1 \(renew\): succeeded {AGENTS}/{AGENTS} targets verified", out,
                     re.M), out
    assert re.search(r"certfleetd RSS [\d.]+ MiB", out), out  # --server-pid sampled it
    summary = out.strip().splitlines()[-1]
    assert summary.startswith(f"summary: agents={AGENTS} rounds=1 trigger=renew;"), summary
    assert f"{2 * AGENTS} jobs, {2 * AGENTS} verified, 0 stale" in summary, summary
    assert summary.endswith("ok"), summary

    # What the server recorded: the renewal (version 2) is the current version, the deployment's
    # second generation succeeded, and every target is verified with version 2's serial.
    cert = get(server, f"/v1/certificates/{cert_id}")
    assert cert["version"] == 2, cert
    dep = get(server, f"/v1/deployments/{dep_id}")
    assert dep["generation"] == 2 and dep["state"] == "succeeded", dep
    assert dep["version"] == 2, dep
    targets = dep["targets"]
    assert {t["agent"] for t in targets} == agent_ids, targets
    for t in targets:
        assert t["state"] == "verified" and t["serial"] == cert["serial"], t
        assert t["verified_at"], t

    inventory = list_all(server, f"/v1/inventory?certificate={cert_id}")
    assert len(inventory) == AGENTS, inventory
    assert {row["agent"] for row in inventory} == agent_ids
    for row in inventory:
        assert row["deployment"] == dep_id, row
        assert row["state"] == "verified", row
        assert row["version"] == 2 and row["serial"] == cert["serial"], row
        assert row["verified_at"], row


def test_drill_gives_each_certificate_its_own_agent(server, fleet_sim_bin):
    agents, certs = 4, 8
    proc = run_sim(fleet_sim_bin, *sim_args(server, "--agents", str(agents), "--drill",
                                            "--certificates", str(certs)))
    out = proc.stdout
    assert proc.returncode == 0, (proc.returncode, out, proc.stderr, server.log_tail(20))
    run = run_id(out)
    assert re.search(rf"^drill: initial placement {certs}/{certs} succeeded", out, re.M), out
    assert re.search(rf"^drill: {certs} certificates renewed in .* {certs}/{certs} succeeded",
                     out, re.M), out

    by_host = {a["hostname"]: a["id"] for a in agents_of_run(server, run)}
    assert len(by_host) == agents
    mine = [c for c in list_all(server, "/v1/certificates") if c["name"].startswith(run + "-")]
    assert sorted(c["name"] for c in mine) == sorted(f"{run}-{i}" for i in range(certs))
    for c in mine:
        i = int(c["name"].rsplit("-", 1)[1])
        assert c["version"] == 2, c  # every certificate was renewed
        rows = list_all(server, f"/v1/inventory?certificate={c['id']}")
        # Certificate i is placed on agent i % agents alone, and verified at its new version.
        assert [r["agent"] for r in rows] == [by_host[f"{run}-{i % agents}"]], rows
        assert rows[0]["state"] == "verified" and rows[0]["serial"] == c["serial"], rows


def test_bad_input_is_refused_clearly(server, fleet_sim_bin, workdir):
    base = ["--ca", server.ca_path, "--token-file", server.token_path]

    proc = run_sim(fleet_sim_bin, "--server", server.url, *base, "--agents", "0")
    assert proc.returncode != 0, proc
    assert "--agents" in proc.stderr and "0 not in range" in proc.stderr, proc.stderr

    proc = run_sim(fleet_sim_bin, "--server", server.url, *base, "--trigger", "reboot")
    assert proc.returncode != 0 and "--trigger" in proc.stderr, proc.stderr

    proc = run_sim(fleet_sim_bin, "--server", server.url.replace("https://", "http://"), *base)
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "--server must be an https:// URL" in proc.stdout + proc.stderr

    missing = workdir.sub("no-such.token")
    proc = run_sim(fleet_sim_bin, "--server", server.url, "--ca", server.ca_path,
                   "--token-file", missing)
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert f"cannot read {missing}" in proc.stdout + proc.stderr

    empty = workdir.sub("empty.token")
    with open(empty, "w"):
        pass
    proc = run_sim(fleet_sim_bin, "--server", server.url, "--ca", server.ca_path,
                   "--token-file", empty)
    assert proc.returncode == 2 and "the token file is empty" in proc.stdout + proc.stderr, proc

    # A token the server does not know: the first API call is refused, and fleet_sim says so.
    bogus = workdir.sub("bogus.token")
    with open(bogus, "w") as f:
        f.write("cft_not-a-real-token\n")
    proc = run_sim(fleet_sim_bin, "--server", server.url, "--ca", server.ca_path,
                   "--token-file", bogus, "--agents", "2")
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert re.search(r"^enrollment tokens: POST /v1/agents/enrollment-tokens answered 401",
                     proc.stdout, re.M), proc.stdout
    assert "cft_not-a-real-token" not in proc.stdout + proc.stderr

    proc = run_sim(fleet_sim_bin, "--ca", server.ca_path, "--token-file", server.token_path)
    assert proc.returncode != 0 and "--server is required" in proc.stderr, proc.stderr
    # Nothing was enrolled by any of these.
    assert "enrolled" not in proc.stdout
