#!/usr/bin/python3
"""ACME server load, certfleetd beside Pebble (issue #16): runs bench/acme_server_load against a
Pebble and a certfleetd started here on free loopback ports, with the same parameters, and prints
one table: orders/s, order latency and each server's CPU per complete order (new order, http-01
challenge validated against the generator's own responder, finalize, download).

What it starts (the e2e harness: test/e2e/acme_servers.py and conftest.py):
  - a BIND9 on 127.0.0.1 (every name under example.test is 127.0.0.1): both validators resolve
    the order's names through it;
  - Pebble 2.4 with external account binding required (one key made here), PEBBLE_VA_NOSLEEP=1,
    PEBBLE_WFE_NONCEREJECT=0 and PEBBLE_AUTHZREUSE=0, httpPort = the generator's http-01 port;
  - certfleetd (SQLite in a temporary data dir, `--log-level warn` unless told otherwise) with
    `--acme-http01-port` = that port, `--acme-resolver` = the BIND9, `[network] allow_private =
    ["127.0.0.0/8"]`, and `[acme_server]` limits raised to 1,000,000 (the defaults, 300 orders an
    hour, would stop a load test); an account claiming example.test, an operator, and an EAB key
    from `certfleet acme eab create --json`.
The EAB HMAC keys go to 0600 files in the work directory (the generator reads them from there)
and are never printed.

For each --workers value, Pebble and certfleetd run one after the other (Pebble first), each
with --orders orders; --rounds repeats the whole sequence.

Pebble 2.4 (Debian 12) can deadlock under concurrent newOrders: makeAuthorizations holds a new
authorization's lock while it waits for the MemoryStore's write lock (AddChallenge), and
FindValidAuthorization, called by every newOrder, holds the store's read lock while it waits for
that authorization's lock; every handler then blocks on the store. acme_server_load stops a run
in which no order completes for --stall-seconds (default 15) and reports the figures up to the
last completed order with "stalled"; this script then restarts Pebble (SIGKILL) for the next run. Server CPU is utime + stime of the
server process over the timed phase (acme_server_load --server-pid).

Usage (after `make build`, or `ninja -C build/release certfleetd certfleet acme_server_load`):
  CERTFLEET_BIN_DIR=build/release/apps/certfleetd:build/release/apps/certfleet \\
      /usr/bin/python3 bench/acme_server_bench.py --orders 2000 --workers 16,64
Anything after `--` goes to acme_server_load (e.g. `-- --poll-ms 20 --threads 2`).
--only certfleet (or pebble) runs one server, e.g. to profile it: the work directory, the server's
pid and the exact generator command are printed first; --pause-before N waits N seconds after
printing them, so that `perf record -p PID` can be attached.
It prints figures; it asserts nothing about them (docs/PERFORMANCE.md records them).
"""
import argparse
import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "e2e"))

import acme_servers  # noqa: E402
import conftest  # noqa: E402

LIMITS = """
[acme_server]
orders_per_hour = 1000000
pending_authorizations = 1000000
failed_validations_per_hour = 1000000
"""


def write_secret(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    return path


def run_load(load, label, directory, ca, kid, hmac_file, http01_port, pid, workers, orders, rest):
    cmd = [load, "--label", label, "--directory", directory, "--ca", ca, "--eab-kid", kid,
           "--eab-hmac-file", hmac_file, "--http01-listen", f"127.0.0.1:{http01_port}",
           "--workers", str(workers), "--orders", str(orders), "--server-pid", str(pid),
           "--json", *rest]
    print("$ " + " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    figures = None
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            figures = json.loads(line)
    return figures


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=2000)
    ap.add_argument("--workers", default="16,64", help="comma-separated concurrency levels")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--only", choices=("pebble", "certfleet"))
    ap.add_argument("--server-log-level", default="warn")
    ap.add_argument("--pause-before", type=float, default=0,
                    help="seconds to wait before the load (to attach perf)")
    ap.add_argument("--load", help="path of acme_server_load "
                    "(default: <dir of certfleetd>/../../bench/acme_server_load)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("rest", nargs="*", help="more acme_server_load flags, after --")
    args = ap.parse_args()
    levels = [int(w) for w in args.workers.split(",") if w]

    certfleetd = conftest._find_binary("certfleetd")
    certfleet = conftest._find_binary("certfleet")
    load = args.load or os.path.join(os.path.dirname(certfleetd), "..", "..", "bench",
                                     "acme_server_load")
    if not os.access(load, os.X_OK):
        raise SystemExit(f"acme_server_load not found at {load}; build it "
                         "(ninja -C build/release acme_server_load)")
    missing = acme_servers.missing_binaries(*acme_servers.SERVER_TOOLS)
    if missing:
        raise SystemExit(f"not installed: {', '.join(missing)} (scripts/install-deps.sh test)")

    work = tempfile.mkdtemp(prefix="cf-acme-bench-")
    http01_port = conftest._free_port()
    bind = pebble = server = None
    # named runs as `bind` when we are root: it takes over a directory of its own.
    bind_ws = conftest.Workspace("cf-acme-bench-bind-")
    results = []
    try:
        bind = acme_servers.Bind9(bind_ws.path).start()
        servers = []
        if args.only in (None, "pebble"):
            pebble_kid = f"bench-{secrets.token_hex(4)}"
            pebble_hmac = _b64url(secrets.token_bytes(32))
            pebble = acme_servers.Pebble(
                os.path.join(work, "pebble"), bind.port, http_port=http01_port,
                eab_keys={pebble_kid: pebble_hmac},
                env={"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0",
                     "PEBBLE_AUTHZREUSE": "0"}).start()
            hmac_file = write_secret(os.path.join(work, "pebble-eab.key"), pebble_hmac)
            del pebble_hmac

            def restart_pebble(t):
                # A deadlocked Pebble (see the module docstring) ignores nothing but SIGKILL.
                acme_servers.kill_process(pebble.proc)
                pebble.proc = None
                pebble.start()
                t.update(directory=pebble.directory_url, pid=pebble.proc.pid)

            servers.append({"label": "pebble", "directory": pebble.directory_url,
                            "ca": pebble.ca_file, "pid": pebble.proc.pid,
                            "eab": lambda kid=pebble_kid, f=hmac_file: (kid, f),
                            "restart": restart_pebble})
        if args.only in (None, "certfleet"):
            server = conftest.Server(certfleetd, os.path.join(work, "certfleetd"))
            os.makedirs(server.data_dir, mode=0o700)
            server.config = (conftest.DEFAULT_SERVER_CONFIG
                             + '\n[network]\nallow_private = ["127.0.0.0/8"]\n' + LIMITS)
            server.extra_args = ["--acme-http01-port", str(http01_port),
                                 "--acme-resolver", f"127.0.0.1:{bind.port}",
                                 "--log-level", args.server_log_level]
            server.start()
            admin = conftest.Cli(certfleet, server)
            account = conftest.create_account(admin, f"acme-bench-{secrets.token_hex(3)}")
            op = conftest.create_principal(admin, _Dir(work), account["id"], "operator")

            def certfleet_eab(admin=admin, account=account, op=op):
                # One EAB key binds one ACME account: a fresh one per run.
                key = admin.json("acme", "eab", "create", "--account", account["id"],
                                 "--principal", op.record["id"])
                path = os.path.join(work, f"certfleet-eab-{secrets.token_hex(4)}.key")
                return key["kid"], write_secret(path, key.pop("hmac_key"))

            servers.append({"label": "certfleet", "directory": f"{server.url}/acme/directory",
                            "ca": server.ca_path, "pid": server.pid, "eab": certfleet_eab})
        pause = args.pause_before
        for rnd in range(args.rounds):
            for workers in levels:
                for t in servers:
                    kid, hmac_file = t["eab"]()
                    if pause:
                        print(f"{t['label']}: pid {t['pid']}, work directory {work}; "
                              f"waiting {pause} s", flush=True)
                        time.sleep(pause)  # the operator attaches a profiler meanwhile
                        pause = 0
                    figures = run_load(load, t["label"], t["directory"], t["ca"], kid, hmac_file,
                                       http01_port, t["pid"], workers, args.orders, args.rest)
                    if figures is not None:
                        figures["round"] = rnd + 1
                        results.append(figures)
                    if (figures is None or figures.get("stalled")) and "restart" in t:
                        print(f"{t['label']} stalled: restarting it", flush=True)
                        t["restart"](t)
    finally:
        for s, name in ((server, "certfleetd"), (pebble, "pebble"), (bind, "named")):
            if s is not None:
                try:
                    s.stop()
                except Exception as e:  # noqa: BLE001 (report and go on stopping the rest)
                    print(f"stopping {name}: {e}", file=sys.stderr)
        bind_ws.cleanup()
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"{'server':<10} {'workers':>7} {'round':>5} {'ok/orders':>11} {'orders/s':>9} "
          f"{'p50 ms':>8} {'p99 ms':>8} {'req/order':>9} {'polls':>6} {'server CPU ms/order':>19} "
          f"{'client CPU ms/order':>19} {'load':>11}")
    for r in results:
        print(f"{r['label']:<10} {r['workers']:>7} {r['round']:>5} "
              f"{str(r['ok']) + '/' + str(r['orders']):>11} {r['orders_per_s']:>9.1f} "
              f"{r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['requests_per_order']:>9.2f} "
              f"{r['polls_per_order']:>6.2f} {r['server_cpu_ms_per_order']:>19.3f} "
              f"{r['client_cpu_ms_per_order']:>19.3f} "
              f"{r['load_before']:>5.2f}-{r['load_after']:<5.2f}"
              + ("  stalled" if r.get("stalled") else ""))


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _Dir:
    """A conftest.Workspace-like view of an existing directory (create_principal writes the
    operator's token file under it)."""

    def __init__(self, path):
        self.path = path

    def sub(self, *parts):
        return os.path.join(self.path, *parts)


if __name__ == "__main__":
    main()
