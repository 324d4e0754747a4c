#!/usr/bin/python3
"""Deployment benchmark (issue #4): wall time from `POST /v1/deployments` until every target has
reported success (or, with --trigger renew, issue #5: from `POST /v1/certificates/{id}/renew`
until the certificate.renewed subscriber's new generation is verified on every target), for N real certfleet-agent processes, each with its own real nginx (installer
`nginx`: nginx -t, reload, TLS check of the served serial) or with the `files` installer; and the
resident memory of the agents and of certfleetd.

Usage (after `ninja -C build/release certfleetd certfleet certfleet-agent`):
  CERTFLEET_BIN_DIR=build/release/apps/certfleetd:build/release/apps/certfleet:build/release/apps/certfleet-agent \\
    /usr/bin/python3 bench/deploy_bench.py --agents 10 --installer nginx --rounds 3
It prints figures; it asserts nothing about them (docs/PERFORMANCE.md records them).
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "e2e"))

import agents as agent_harness  # noqa: E402
import conftest  # noqa: E402


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wait_done(server, dep_id, timeout, generation=0):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        dep = server.request("GET", f"/v1/deployments/{dep_id}").json()
        if dep["state"] != "running" and dep["generation"] >= generation:
            return dep
        time.sleep(0.02)
    raise SystemExit(f"deployment {dep_id} still running after {timeout}s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=10)
    ap.add_argument("--installer", choices=["nginx", "files"], default="nginx")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--trigger", choices=["deploy", "renew"], default="deploy",
                    help="time a (re)deployment, or a renewal through to every target verified")
    ap.add_argument("--pkcs8-iterations", type=int, default=600000)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="cf-deploy-bench-")
    server = conftest.Server(conftest._find_binary("certfleetd"), os.path.join(work, "server"))
    os.makedirs(server.data_dir)
    server.extra_args = ["--pkcs8-iterations", str(args.pkcs8_iterations),
                         "--worker-threads", "4"]
    server.start()
    cli = conftest.Cli(conftest._find_binary("certfleet"), server)
    agent_bin = conftest._find_binary("certfleet-agent")
    fleet = []
    try:
        t0 = time.monotonic()
        for i in range(args.agents):
            profiles = None
            if args.installer == "files":
                root = os.path.join(work, f"a{i}", "root")
                profiles = {"bench": {"installer": "files", "cert_dir": os.path.join(root, "c"),
                                      "key_dir": os.path.join(root, "k"), "name": "web"}}
                os.makedirs(os.path.join(root, "c"), exist_ok=True)
                os.makedirs(os.path.join(root, "k"), exist_ok=True)
            a = agent_harness.Agent(agent_bin, server, os.path.join(work, f"a{i}"), "default",
                                    {"env": "bench"}, profiles=profiles,
                                    nginx=args.installer == "nginx")
            fleet.append(a)  # before start, so teardown stops its nginx even if start fails
            a.create_token(cli)
            a.start(wait_enrolled=False)
        for a in fleet:
            a.wait_enrolled(timeout=120)
        print(f"{args.agents} agents enrolled in {time.monotonic() - t0:.1f} s")
        cert = cli.json("cert", "request", "--name", "bench", "--domain", "bench.example.test",
                        "--exportable")
        profile = "nginx" if args.installer == "nginx" else "bench"
        times = []
        dep_id = None
        if args.trigger == "renew":  # the deployment exists before the renewals are timed
            resp = server.request("POST", "/v1/deployments",
                                  {"certificate": cert["id"], "selector": {"env": "bench"},
                                   "profile": profile})
            assert resp.status == 201, resp
            dep_id = resp.json()["id"]
            wait_done(server, dep_id, timeout=600)
        for r in range(args.rounds):
            start = time.monotonic()
            if args.trigger == "renew":
                before = server.request("GET", f"/v1/deployments/{dep_id}").json()["generation"]
                resp = server.request("POST", f"/v1/certificates/{cert['id']}/renew", {})
                assert resp.status in (200, 201), resp
                dep = wait_done(server, dep_id, timeout=600, generation=before + 1)
            elif dep_id is None:
                resp = server.request("POST", "/v1/deployments",
                                      {"certificate": cert["id"], "selector": {"env": "bench"},
                                       "profile": profile})
                assert resp.status == 201, resp
                dep_id = resp.json()["id"]
            else:
                resp = server.request("POST", f"/v1/deployments/{dep_id}/redeploy", {})
                assert resp.status == 202, resp
            if args.trigger == "deploy":
                dep = wait_done(server, dep_id, timeout=600)
            elapsed = time.monotonic() - start
            ok = sum(1 for t in dep["targets"] if t["state"] in ("verified", "installed"))
            print(f"round {r + 1}: {dep['state']} {ok}/{len(dep['targets'])} targets in "
                  f"{elapsed:.2f} s")
            if dep["state"] != "succeeded":
                for t in dep["targets"]:
                    if t["state"] not in ("verified", "installed"):
                        print("  ", t["agent"], t["state"], t["reason"])
            times.append(elapsed)
        rss = sorted(rss_kib(a.proc.pid) for a in fleet)
        what = "renewal-to-all-verified" if args.trigger == "renew" else "deploy-to-all-verified"
        print(f"agents={args.agents} installer={args.installer} "
              f"pbkdf2={args.pkcs8_iterations}: {what} "
              f"median {statistics.median(times):.2f} s, min {min(times):.2f} s, "
              f"max {max(times):.2f} s over {len(times)} rounds")
        print(f"agent RSS: median {statistics.median(rss) / 1024:.1f} MiB, "
              f"max {rss[-1] / 1024:.1f} MiB; certfleetd RSS {rss_kib(server.pid) / 1024:.1f} MiB")
    finally:
        for a in fleet:
            try:
                if a.proc is not None:
                    a.stop()
            except BaseException:  # noqa: BLE001 - best effort teardown
                a.kill()
            if a.nginx is not None:
                a.nginx.stop()
        server.stop()
        if not args.keep:
            import shutil
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
