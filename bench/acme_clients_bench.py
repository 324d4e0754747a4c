#!/usr/bin/python3
"""ACME client benchmark (baseline for issue #6): wall time of one issuance, from starting the
client process to its exit with a certificate on disk, for real ACME clients against a real
Pebble (PEBBLE_VA_NOSLEEP=1) whose VA resolves through a real BIND9, both started by the
test/e2e/acme_servers.py harness on loopback. dns-01 goes through BIND9 over RFC 2136 (TSIG);
http-01 through the client's own standalone server on Pebble's httpPort.

Every issuance is a fresh process with a fresh account and a fresh name, so Pebble never reuses
an authorization. Rounds are interleaved (one issuance per client and challenge per round) so
that a change of machine load spreads over every row. Pebble's default nonce rejection (5%)
stays on unless --nonce-reject is given: retrying badNonce is part of a client's cost.

Usage (no build needed):
  /usr/bin/python3 bench/acme_clients_bench.py --runs 5
It prints figures; it asserts nothing about them (docs/PERFORMANCE.md records them).

A client is one ClientRunner in RUNNERS: its name, the challenge, the binaries it needs and a
function that returns (argv, env, cert_path, chain_path) for one issuance.

certfleet (issue #6) is measured after the others, because its http-01 listener holds Pebble's
httpPort for as long as certfleetd runs (lego's and certbot's standalone servers need it too):
one certfleetd (CERTFLEET_BIN_DIR, default build/release) with an rfc2136 solver on the BIND9
and an issuer per challenge; one issuance is `certfleet cert request --issuer ...` (a process,
like the other clients) until the certificate reads `issued` through the API (polled every
20 ms, so the figure is certfleet's own time, not the CLI's 1 s --wait interval). The job
worker picks new jobs up within 250 ms, which is part of the figure. The `certfleet+agent` row
is http-01 answered by a certfleet-agent (a second certfleetd without its own listener; the
agent's [http01] listener on Pebble's httpPort): the hand-over through the agent's long poll
and its acknowledgement are part of that figure.
"""
import argparse
import collections
import os
import secrets
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "e2e"))

import acme_servers  # noqa: E402
from conftest import Workspace  # noqa: E402

ISSUE_TIMEOUT_S = 180.0

ClientRunner = collections.namedtuple("ClientRunner", "client challenge binaries command")

RUNNERS = [
    ClientRunner("lego", "dns-01", ("lego",), acme_servers.lego_command),
    ClientRunner("lego", "http-01", ("lego",), acme_servers.lego_command),
    ClientRunner("certbot", "dns-01", ("certbot",), acme_servers.certbot_command),
    ClientRunner("certbot", "http-01", ("certbot",), acme_servers.certbot_command),
]


def issue_once(runner, pebble, bind, work, round_no):
    """Runs one issuance; its wall time in seconds, or None (with the reason printed)."""
    label = f"{runner.client}-{runner.challenge.replace('-', '')}-{round_no}"
    domain = f"{label}-{secrets.token_hex(3)}.example.test"
    argv, env, cert, chain = runner.command(pebble, bind, domain, os.path.join(work, label),
                                            runner.challenge)
    t0 = time.monotonic()
    proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=ISSUE_TIMEOUT_S)
    elapsed = time.monotonic() - t0
    if proc.returncode != 0 or not (os.path.exists(cert) and os.path.exists(chain)):
        print(f"  {label}: FAILED (exit {proc.returncode})\n{proc.stderr[-1500:]}",
              file=sys.stderr)
        return None
    return elapsed


def _certfleet_rounds(runs, pebble, challenges, times, failures, client, extra_args, setup):
    """Starts a certfleetd with `extra_args`, lets `setup(cli, server, ws)` create the solvers
    and return {challenge: issuer}, and runs `runs` issuances per challenge under `client`."""
    import conftest  # needs CERTFLEET_BIN_DIR
    os.environ.setdefault("CERTFLEET_BIN_DIR", ":".join(
        os.path.join(HERE, "..", "build", "release", "apps", d)
        for d in ("certfleetd", "certfleet", "certfleet-agent")))
    ws = Workspace("cf-acme-bench-certfleet-")
    server = conftest.Server(conftest._find_binary("certfleetd"), ws.sub("data"))
    os.mkdir(server.data_dir, 0o700)
    server.extra_args = list(extra_args)
    teardown = None
    try:
        server.start()
        cli = conftest.Cli(conftest._find_binary("certfleet"), server)
        trust = ws.sub("pebble-ca.pem")
        with open(pebble.ca_file) as src, open(trust, "w") as dst:
            dst.write(src.read())
        solvers, teardown = setup(cli, server, ws)
        for challenge, solver in solvers.items():
            cli.json("issuer", "create", "acme", "--name", challenge.replace("-", ""),
                     "--directory", pebble.directory_url, "--trust", trust, "--solver", solver)
        for round_no in range(runs):
            for challenge in [c for c in challenges if c in solvers]:
                domain = f"cf-{challenge.replace('-', '')}-{round_no}-{secrets.token_hex(3)}" \
                         ".example.test"
                t0 = time.monotonic()
                cert = cli.json("cert", "request", "--name", f"b{round_no}{secrets.token_hex(3)}",
                                "--domain", domain, "--issuer", challenge.replace("-", ""))
                status = cert["status"]
                while status == "pending" and time.monotonic() - t0 < ISSUE_TIMEOUT_S:
                    time.sleep(0.02)
                    status = server.request("GET", "/v1/certificates/" + cert["id"]).json()[
                        "status"]
                elapsed = time.monotonic() - t0
                key = (client, challenge)
                if status == "issued":
                    times.setdefault(key, []).append(elapsed)
                else:
                    failures[key] += 1
                    print(f"  {client} {challenge}: {status}\n{server.log_tail(10)}",
                          file=sys.stderr)
    finally:
        try:
            if teardown is not None:
                teardown()
        finally:
            server.stop()
            ws.cleanup()


def certfleet_rounds(runs, pebble, bind, challenges, times, failures):
    """certfleetd alone: dns-01 through BIND9, http-01 through its own listener."""
    def setup(cli, server, ws):
        cli.json("solver", "create", "rfc2136", "--name", "bind", "--server",
                 f"127.0.0.1:{bind.port}", "--tsig-key-file", bind.tsig_key_path)
        return {"dns-01": "bind", "http-01": "http01"}, None
    _certfleet_rounds(runs, pebble, challenges, times, failures, "certfleet",
                      ["--http01-listen", f"127.0.0.1:{pebble.http_port}"], setup)


def certfleet_agent_rounds(runs, pebble, challenges, times, failures):
    """http-01 answered by a certfleet-agent: its [http01] listener on Pebble's httpPort, the
    challenge handed over through the agent's long poll and acknowledged before Pebble is told
    to validate."""
    from agents import AgentFactory

    def setup(cli, server, ws):
        factory = AgentFactory(server, cli, ws)
        account = cli.json("account", "list")["items"][0]["id"]  # the bootstrap admin's
        agent = factory(account, {"role": "bench"}, start=False, nginx=False)
        agent.http01 = {"listen": f"127.0.0.1:{pebble.http_port}"}
        agent.start()
        cli.json("solver", "create", "agent-http01", "--name", "agents", "--selector",
                 "role=bench")
        return {"http-01": "agents"}, factory.teardown
    _certfleet_rounds(runs, pebble, challenges, times, failures, "certfleet+agent", [], setup)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="issuances per client and challenge")
    ap.add_argument("--clients", default="", help="comma-separated subset, e.g. lego")
    ap.add_argument("--challenges", default="", help="comma-separated subset, e.g. dns-01")
    ap.add_argument("--nonce-reject", type=int, default=None,
                    help="PEBBLE_WFE_NONCEREJECT percentage (default: Pebble's own, 5)")
    ap.add_argument("--keep", action="store_true", help="keep the work directories")
    ap.add_argument("--no-certfleet", action="store_true", help="skip the certfleet rows")
    args = ap.parse_args()

    runners = [r for r in RUNNERS
               if (not args.clients or r.client in args.clients.split(","))
               and (not args.challenges or r.challenge in args.challenges.split(","))]
    for r in list(runners):
        missing = acme_servers.missing_binaries(*r.binaries)
        if missing:
            print(f"skipping {r.client} {r.challenge}: not installed: {', '.join(missing)}")
            runners.remove(r)
    with_certfleet = not args.no_certfleet and (not args.clients or "certfleet" in
                                                args.clients.split(","))
    missing = acme_servers.missing_binaries("named", "tsig-keygen", "dig", "pebble", "openssl")
    if missing or not (runners or with_certfleet):
        raise SystemExit(f"nothing to measure (missing: {', '.join(missing) or 'clients'})")

    env = {}
    if args.nonce_reject is not None:
        env["PEBBLE_WFE_NONCEREJECT"] = str(args.nonce_reject)
    spaces = [Workspace(f"cf-acme-bench-{what}-") for what in ("bind", "pebble", "clients")]
    bind = acme_servers.Bind9(spaces[0].path)
    pebble = None
    times = {r: [] for r in runners}
    cf_times = {}
    failures = collections.Counter()
    try:
        bind.start()
        pebble = acme_servers.Pebble(spaces[1].path, bind.port, env=env).start()
        print(f"BIND9 on 127.0.0.1:{bind.port}, Pebble at {pebble.directory_url} "
              f"(httpPort {pebble.http_port}); {args.runs} runs each, "
              f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
        for round_no in range(args.runs):
            for r in runners:
                t = issue_once(r, pebble, bind, spaces[2].path, round_no)
                if t is None:
                    failures[r] += 1
                else:
                    times[r].append(t)
        if with_certfleet:
            challenges = [c for c in ("dns-01", "http-01")
                          if not args.challenges or c in args.challenges.split(",")]
            certfleet_rounds(args.runs, pebble, bind, challenges, cf_times, failures)
            certfleet_agent_rounds(args.runs, pebble, challenges, cf_times, failures)
    finally:
        try:
            if pebble is not None:
                pebble.stop()
        finally:
            bind.stop()
            for ws in spaces:
                if args.keep:
                    print(f"kept {ws.path}")
                else:
                    ws.cleanup()

    print(f"\nload average at the end {os.getloadavg()[0]:.2f}\n")
    print("| client | challenge | ok/runs | median s | min s | max s |")
    print("|---|---|---|---|---|---|")
    for r in runners:
        t = times[r]
        ok = f"{len(t)}/{len(t) + failures[r]}"
        if t:
            print(f"| {r.client} | {r.challenge} | {ok} | {statistics.median(t):.2f} | "
                  f"{min(t):.2f} | {max(t):.2f} |")
        else:
            print(f"| {r.client} | {r.challenge} | {ok} | - | - | - |")
    for (client, challenge), t in cf_times.items():
        ok = f"{len(t)}/{len(t) + failures[(client, challenge)]}"
        print(f"| {client} | {challenge} | {ok} | {statistics.median(t):.2f} | "
              f"{min(t):.2f} | {max(t):.2f} |")
    print("\nper run (s): " + "; ".join(
        f"{r.client} {r.challenge}: " + " ".join(f"{x:.2f}" for x in times[r]) for r in runners))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
