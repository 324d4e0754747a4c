#!/usr/bin/env bash
# Installs what certfleet needs from Debian 12 (bookworm) packages, and nothing from anywhere
# else. Usage: scripts/install-deps.sh [build|test]. "build" installs the toolchain and
# libraries; "test" adds the real servers and tools the tests start (RECIPES.md).
# Installs only what is missing, so a second run costs a dpkg query.
set -euo pipefail

mode="${1:-build}"
build_pkgs=(build-essential cmake ninja-build pkg-config libssl-dev libsqlite3-dev libpq-dev
  nlohmann-json3-dev libboost-dev libboost-system-dev libcli11-dev libspdlog-dev libfmt-dev
  libtomlplusplus-dev libgtest-dev libgmock-dev libbenchmark-dev libp11-kit-dev clang-format openssl
  libldns-dev libunbound-dev ccache)
test_pkgs=(python3 python3-pytest python3-pytest-xdist sqlite3 openssl softhsm2 nginx pebble bind9 bind9-utils
  bind9-dnsutils lego certbot python3-certbot-dns-rfc2136 caddy dehydrated uacme postgresql haproxy
  chromium)
# The console (ui/) is built with Node.js and npm; its packages come from the npm registry,
# locked by ui/package-lock.json, and nothing else is downloaded (the browser tests drive
# Debian's chromium, never a browser that a test tool downloads). A machine that already has
# node and npm (e.g. another distribution of Node.js) keeps them.
if ! command -v node >/dev/null 2>&1; then build_pkgs+=(nodejs); fi
if ! command -v npm >/dev/null 2>&1; then build_pkgs+=(npm); fi

pkgs=("${build_pkgs[@]}")
if [ "$mode" = "test" ]; then pkgs+=("${test_pkgs[@]}"); fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then exit 0; fi

echo "installing missing Debian packages: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
