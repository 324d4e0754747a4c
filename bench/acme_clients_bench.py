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
function that returns (argv, env, cert_path, chain_path) for one issuance. The certfleet ACME
issuer (issue #6) gets its rows by adding runners here.
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="issuances per client and challenge")
    ap.add_argument("--clients", default="", help="comma-separated subset, e.g. lego")
    ap.add_argument("--challenges", default="", help="comma-separated subset, e.g. dns-01")
    ap.add_argument("--nonce-reject", type=int, default=None,
                    help="PEBBLE_WFE_NONCEREJECT percentage (default: Pebble's own, 5)")
    ap.add_argument("--keep", action="store_true", help="keep the work directories")
    args = ap.parse_args()

    runners = [r for r in RUNNERS
               if (not args.clients or r.client in args.clients.split(","))
               and (not args.challenges or r.challenge in args.challenges.split(","))]
    for r in list(runners):
        missing = acme_servers.missing_binaries(*r.binaries)
        if missing:
            print(f"skipping {r.client} {r.challenge}: not installed: {', '.join(missing)}")
            runners.remove(r)
    missing = acme_servers.missing_binaries("named", "tsig-keygen", "dig", "pebble", "openssl")
    if missing or not runners:
        raise SystemExit(f"nothing to measure (missing: {', '.join(missing) or 'clients'})")

    env = {}
    if args.nonce_reject is not None:
        env["PEBBLE_WFE_NONCEREJECT"] = str(args.nonce_reject)
    spaces = [Workspace(f"cf-acme-bench-{what}-") for what in ("bind", "pebble", "clients")]
    bind = acme_servers.Bind9(spaces[0].path)
    pebble = None
    times = {r: [] for r in runners}
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
    print("\nper run (s): " + "; ".join(
        f"{r.client} {r.challenge}: " + " ".join(f"{x:.2f}" for x in times[r]) for r in runners))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
