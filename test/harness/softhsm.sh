#!/usr/bin/env bash
# Creates a throwaway SoftHSM2 installation in DIR for tests (RECIPES.md "SoftHSM2"):
#   DIR/softhsm2.conf  file object store rooted at DIR/tokens
#   DIR/tokens/        one initialized token labelled "certfleet-test"
#   DIR/pin            the user PIN, mode 0600
# Prints the absolute path of softhsm2.conf (and nothing else) on stdout; the caller points
# SOFTHSM2_CONF at it. The PINs below are test-only values and guard nothing.
# Usage: test/harness/softhsm.sh DIR
set -euo pipefail

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
if ! command -v softhsm2-util >/dev/null 2>&1; then
  echo "softhsm2-util not found (Debian package: softhsm2)" >&2
  exit 3
fi

umask 077
mkdir -p -- "$1"
dir="$(cd -- "$1" && pwd -P)"
mkdir -p -- "$dir/tokens"

conf="$dir/softhsm2.conf"
cat >"$conf" <<CONF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF

# softhsm2-util reports the new slot on stdout; keep stdout for the one line callers parse.
SOFTHSM2_CONF="$conf" softhsm2-util --init-token --free --label certfleet-test \
  --so-pin 87654321 --pin 1234 >&2

printf '%s\n' 1234 >"$dir/pin"
chmod 600 -- "$dir/pin"

printf '%s\n' "$conf"
