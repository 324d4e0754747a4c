#!/usr/bin/python3
"""Checks the dependency rule of docs/architecture.md: a file in src/<module>/ includes only headers of
the modules that <module> may depend on (and its own). CMake links only downward; this catches a
header include that slips past the link graph. Exits 1 listing every violation."""
import os
import re
import sys

ALLOWED = {
    "base": set(),
    "model": {"base"},
    "crypto": {"base"},
    "x509": {"base", "crypto"},
    "net": {"base", "crypto", "x509"},
    "store": {"base", "model"},
    "secrets": {"base", "model", "crypto", "store"},
    # Not on the original map: the hash-chained audit trail (docs/design/2026-11-27-foundation.md).
    "audit": {"base", "model", "crypto", "store"},
    "policy": {"base", "model", "x509"},
    "ca": {"base", "model", "crypto", "x509", "store", "secrets", "policy"},
    # Issue #6: DNS updates and queries (RFC 2136 + TSIG through ldns) for the dns-01 solver; the
    # map puts this in net, but only the ACME client needs it and the agent (which links net)
    # should not carry ldns.
    "dns": {"base"},
    # Issue #6: the ACME client (docs/architecture.md's list).
    "acme": {"base", "model", "crypto", "x509", "net", "dns", "store", "secrets", "policy", "ca"},
    "jobs": {"base", "model", "store"},
    # Issue #5: the outbox, CloudEvents rendering and webhook delivery.
    "events": {"base", "model", "crypto", "net", "store", "secrets"},
    "lifecycle": {"base", "model", "crypto", "x509", "net", "store", "secrets", "audit", "policy",
                  "ca", "jobs", "events", "dns", "acme"},
    "api": {"base", "model", "crypto", "x509", "net", "store", "secrets", "audit", "policy", "ca",
            "jobs", "events", "lifecycle", "dns", "acme"},
    # The agent runs on hosts: nothing server-side.
    "agent": {"base", "model", "crypto", "x509", "net"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z0-9_]+)/')


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
    bad = []
    for module in sorted(os.listdir(root)):
        path = os.path.join(root, module)
        if not os.path.isdir(path):
            continue
        if module not in ALLOWED:
            bad.append(f"src/{module}: module missing from scripts/check-includes.py")
            continue
        ok = ALLOWED[module] | {module}
        for dirpath, _, files in os.walk(path):
            for name in files:
                if not name.endswith((".h", ".cc")):
                    continue
                file = os.path.join(dirpath, name)
                with open(file, encoding="utf-8") as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        # Test files may use shared fakes from test/ ("fakes/pki_env.h").
                        if m and m.group(1) not in ok and not (m.group(1) == "fakes" and "test" in name):
                            rel = os.path.relpath(file, os.path.join(root, ".."))
                            bad.append(f"{rel}:{lineno}: {module} may not include {m.group(1)}/")
    for b in bad:
        print(b)
    if bad:
        print(f"{len(bad)} dependency-rule violation(s)")
        return 1
    print("include check: dependency rule holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
