#!/usr/bin/python3
"""Runs bench/fleet_sim against a fresh release certfleetd (issue #14 item 4).

Starts certfleetd on a temp data dir (the e2e harness's Server, as bench/deploy_bench.py does)
with the limits a simulated fleet needs, runs fleet_sim with --server-pid so that it samples
certfleetd's RSS and CPU, and stops the server.

Connection limits: certfleetd admits --max-connections in all (default 4096) and
--max-connections-per-address from one IP (default 256). This script raises only the total, to
agents + 1024; the per-address limit stays at its default, because fleet_sim binds its agents to
loopback source addresses 127.0.0.2, 127.0.0.3, ... with at most 200 agents each (fleet_sim
--per-address), as a real fleet comes from many hosts. File descriptors: certfleetd and
fleet_sim each need one per agent; the soft `ulimit -n` is raised to the hard limit for both.

Usage (after `make build`, or `ninja -C build/release certfleetd fleet_sim`):
  CERTFLEET_BIN_DIR=build/release/apps/certfleetd /usr/bin/python3 bench/fleet_sim.py \\
      --agents 1000 --rounds 3
  ... bench/fleet_sim.py --agents 1000 --drill --certificates 5000
  ... bench/fleet_sim.py --agents 1000 --replicas 3
With --replicas N (issue #15), N certfleetd replicas run on one throwaway PostgreSQL cluster
behind HAProxy (the e2e harness's ReplicaSet, deploy/haproxy/certfleet.cfg's shape), the agents
dial HAProxy, and the RSS and CPU sampled are the first replica's.
Anything after `--` goes to fleet_sim (e.g. `-- --threads 1 --trigger redeploy`).
It prints figures; it asserts nothing about them (docs/PERFORMANCE.md records them).
"""
import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "e2e"))

import conftest  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--drill", action="store_true")
    ap.add_argument("--certificates", type=int, default=0)
    ap.add_argument("--pkcs8-iterations", type=int, default=600000,
                    help="certfleetd --pkcs8-iterations (PBKDF2 per export; default 600000)")
    ap.add_argument("--worker-threads", type=int, default=4)
    ap.add_argument("--fleet-sim", help="path of the fleet_sim binary "
                    "(default: <dir of certfleetd>/../../bench/fleet_sim)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--replicas", type=int, default=0,
                    help="run N replicas on PostgreSQL behind HAProxy (default: one certfleetd "
                    "on SQLite)")
    ap.add_argument("rest", nargs="*", help="more fleet_sim flags, after --")
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by both children

    certfleetd = conftest._find_binary("certfleetd")
    sim = args.fleet_sim or os.path.join(os.path.dirname(certfleetd), "..", "..", "bench",
                                         "fleet_sim")
    if not os.access(sim, os.X_OK):
        raise SystemExit(f"fleet_sim not found at {sim}; build it (ninja -C build/release fleet_sim)")

    work = tempfile.mkdtemp(prefix="cf-fleet-sim-")
    server_args = ["--pkcs8-iterations", str(args.pkcs8_iterations),
                   "--worker-threads", str(args.worker_threads),
                   "--max-connections", str(args.agents + 1024)]
    pg = replica_set = None
    if args.replicas > 0:
        pg_ws = conftest.Workspace("cf-fleet-sim-pg-")
        pg = conftest.Postgres(pg_ws.path).start()
        replica_set = conftest.ReplicaSet(certfleetd, pg, args.replicas, extra_args=server_args,
                                          balancer=True)
    else:
        server = conftest.Server(certfleetd, os.path.join(work, "server"))
        os.makedirs(server.data_dir)
        server.extra_args = server_args
    try:
        if replica_set is not None:
            replica_set.start()
            server = replica_set.front
            pid = replica_set[0].pid
        else:
            server.start()
            pid = server.pid
        cmd = [sim, "--server", server.url, "--ca", server.ca_path,
               "--token-file", server.token_path, "--agents", str(args.agents),
               "--rounds", str(args.rounds), "--server-pid", str(pid)]
        if args.drill:
            cmd += ["--drill", "--certificates", str(args.certificates)]
        cmd += args.rest
        print(("%d replicas on PostgreSQL behind HAProxy: " % args.replicas
               if replica_set is not None else "") + "certfleetd " + " ".join(server_args),
              flush=True)
        print(" ".join(os.path.relpath(c) if c == sim else c for c in cmd), flush=True)
        rc = subprocess.call(cmd)
    finally:
        if replica_set is not None:
            replica_set.stop()
            pg.stop()
            pg_ws.cleanup()
        else:
            server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(rc)


if __name__ == "__main__":
    main()
