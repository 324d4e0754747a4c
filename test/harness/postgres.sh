#!/usr/bin/env bash
# Throwaway PostgreSQL 15 clusters for tests (RECIPES.md "PostgreSQL (throwaway cluster)").
#
#   postgres.sh start DIR [NAME=VALUE ...]
#       Creates a cluster in DIR/data (initdb -E UTF8 --no-locale, trust authentication for
#       127.0.0.1 only) and starts it listening on 127.0.0.1 only, on a free port it picks
#       (another one if the port turns out to be taken), with its unix socket in DIR. fsync
#       stays on: the durability tests stop and kill the server and count on it.
#       NAME=VALUE pairs are extra server settings (e.g. synchronous_commit=off), applied at
#       creation only. On a DIR whose cluster exists (stopped by `stop`), starts it again on the
#       same port, so the URL stays valid; fails if that port has been taken meanwhile.
#       Writes DIR/port (the port) and DIR/url (postgres://postgres@127.0.0.1:PORT/postgres)
#       and prints the URL, and nothing else, on stdout. The server log is DIR/log.
#   postgres.sh stop DIR
#       Stops the cluster (fast mode: open sessions are cut, the data is kept). Succeeds when
#       nothing runs in DIR, so it is safe to call twice or after a failed start.
#   postgres.sh run -- CMD [ARGS...]
#       Starts a cluster in a fresh temporary directory, runs CMD with CERTFLEET_TEST_PG_URL set
#       to its URL, then stops the cluster (immediate mode: it is thrown away, so no shutdown
#       checkpoint) and removes the directory whatever CMD's outcome, and exits with CMD's exit
#       status. On SIGINT or SIGTERM, CMD gets SIGTERM and the cluster is still removed; if this
#       script is killed outright (SIGKILL, a ctest timeout), a watchdog removes it. Each
#       invocation has its own directory and port, so ctest may run many side by side:
#         add_test(NAME t COMMAND test/harness/postgres.sh run -- $<TARGET_FILE:t>)
#
# As root, initdb and pg_ctl run as the `postgres` user (they refuse root) and DIR is given to
# that user: DIR's parents must let `postgres` through (a fresh `mktemp -d` or
# tempfile.mkdtemp() directory, used as DIR itself, does). As any other user they run directly.
#
# Timing on the 2-core Debian 12 test machine (2026-12-07): `start` of a new cluster takes 2.3 s
# when the machine is quiet and 4-7.5 s while other builds load it (load average 4-6); initdb
# (bootstrap plus its final sync of the new files) is two thirds of it. `start` of a stopped
# cluster takes 0.4 s, `stop` 0.2-0.3 s; `run -- true` costs start plus stop.
#
# Environment: CERTFLEET_PG_BIN overrides the binaries' directory (/usr/lib/postgresql/15/bin).
# Exit status: 0 success, 2 usage, 3 PostgreSQL not installed, 1 anything else (the log tail is
# on stderr).
set -euo pipefail

PG_BIN="${CERTFLEET_PG_BIN:-/usr/lib/postgresql/15/bin}"
SELF="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)/$(basename -- "${BASH_SOURCE[0]}")"
PORT_ATTEMPTS=10
START_TIMEOUT_S=60
STOP_TIMEOUT_S=60

usage() {
  echo "usage: $0 start DIR [NAME=VALUE ...] | stop DIR | run -- CMD [ARGS...]" >&2
  exit 2
}

die() {
  echo "postgres.sh: $*" >&2
  exit 1
}

need_binaries() {
  local b
  for b in initdb pg_ctl postgres; do
    if [ ! -x "$PG_BIN/$b" ]; then
      echo "postgres.sh: $PG_BIN/$b not found (Debian package: postgresql)" >&2
      exit 3
    fi
  done
}

# Runs a PostgreSQL program as the user that owns the cluster.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# A port outside the kernel's ephemeral range (32768-60999 by default), where the ports that
# other tests get from bind(0) and outgoing connections live; nothing listening on it now. The
# server's own bind is the real test: cmd_start retries on "Address already in use".
pick_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
    # A connect that fails means nothing listens there (bash's /dev/tcp, no extra tools).
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  die "no free port found in 20000-31999"
}

log_tail() {
  tail -n 30 "$1/log" 2>/dev/null >&2 || true
}

# pg_ctl start on the port written in the cluster's settings; 0 when it accepts connections.
pg_start() {
  local dir="$1"
  (cd "$dir" && as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t "$START_TIMEOUT_S" \
    start >/dev/null)
}

write_port() {
  local dir="$1" port="$2"
  # The settings file is postgres'; it is rewritten as postgres so the ownership stays.
  printf '%s\n' \
    "# Written by test/harness/postgres.sh; included from postgresql.conf." \
    "listen_addresses = '127.0.0.1'" \
    "port = $port" \
    "unix_socket_directories = '$dir'" \
    "fsync = on" \
    "synchronous_commit = on" \
    "full_page_writes = on" \
    "max_connections = 300" \
    "logging_collector = off" \
    "log_line_prefix = '%m [%p] %q%u@%d '" \
    | as_pg tee "$dir/data/certfleet-harness.conf" >/dev/null
  printf '%s\n' "$port" >"$dir/port.tmp" && mv -f "$dir/port.tmp" "$dir/port"
  printf 'postgres://postgres@127.0.0.1:%s/postgres\n' "$port" >"$dir/url.tmp"
  mv -f "$dir/url.tmp" "$dir/url"
}

cmd_start() {
  if [ "$#" -lt 1 ] || [ -z "$1" ]; then usage; fi
  need_binaries
  mkdir -p -- "$1"
  local dir
  dir="$(cd -- "$1" && pwd -P)"
  shift
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$dir"
    chmod 700 "$dir"
    runuser -u postgres -- test -w "$dir" ||
      die "user postgres cannot write $dir: a parent directory is closed to it" \
        "(use a fresh mktemp -d directory)"
  fi

  if [ -f "$dir/data/PG_VERSION" ]; then
    # Restart of a cluster this script made: same port, same URL.
    [ -f "$dir/port" ] || die "$dir/data exists but $dir/port does not"
    if as_pg "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
      cat "$dir/url"
      return 0
    fi
    if ! pg_start "$dir"; then
      log_tail "$dir"
      die "could not restart the cluster in $dir on port $(cat "$dir/port")"
    fi
    cat "$dir/url"
    return 0
  fi

  local setting
  for setting in "$@"; do
    case "$setting" in
      [a-z]*=*) ;;
      *) die "not a NAME=VALUE setting: $setting" ;;
    esac
  done

  # Trust for the loopback address only; the socket dir is the caller's own (0700).
  (cd "$dir" && as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale \
    >"$dir/initdb.log" 2>&1) || { cat "$dir/initdb.log" >&2; die "initdb failed in $dir"; }
  printf '%s\n' \
    "local all all trust" \
    "host all all 127.0.0.1/32 trust" \
    "host replication all 127.0.0.1/32 trust" |
    as_pg tee "$dir/data/pg_hba.conf" >/dev/null
  {
    echo "include = 'certfleet-harness.conf'"
    for setting in "$@"; do
      echo "${setting%%=*} = '${setting#*=}'"
    done
  } | as_pg tee -a "$dir/data/postgresql.conf" >/dev/null

  local port lines
  for _ in $(seq 1 "$PORT_ATTEMPTS"); do
    port="$(pick_port)"
    write_port "$dir" "$port"
    lines=0
    if [ -f "$dir/log" ]; then lines=$(wc -l <"$dir/log"); fi
    if pg_start "$dir"; then
      cat "$dir/url"
      return 0
    fi
    # Another process took the port between the check and the bind: try another one.
    if tail -n "+$((lines + 1))" "$dir/log" 2>/dev/null | grep -q "Address already in use"; then
      echo "postgres.sh: port $port was taken meanwhile; trying another" >&2
      continue
    fi
    log_tail "$dir"
    die "could not start the cluster in $dir (port $port)"
  done
  log_tail "$dir"
  die "every port tried was taken ($PORT_ATTEMPTS attempts)"
}

cmd_stop() {
  if [ "$#" -ne 1 ] || [ -z "$1" ]; then usage; fi
  stop_cluster "$1" fast
}

# pg_ctl stop in MODE (fast: a clean shutdown with its checkpoint; immediate: none, for a cluster
# about to be removed). Nothing to do when nothing runs in DIR.
stop_cluster() {
  local dir="$1" mode="$2"
  [ -d "$dir" ] || return 0
  dir="$(cd -- "$dir" && pwd -P)"
  [ -f "$dir/data/PG_VERSION" ] || return 0
  need_binaries
  if ! as_pg "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    return 0
  fi
  (cd "$dir" && as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m "$mode" -w -t "$STOP_TIMEOUT_S" \
    stop >/dev/null) || { log_tail "$dir"; die "could not stop the cluster in $dir"; }
}

# Stops and removes a cluster made by `run`. Immediate mode: the shutdown checkpoint of a fast
# stop writes and syncs every file the tests touched (seconds after a test suite that made many
# tables), only for the directory to be removed.
discard_cluster() {
  stop_cluster "$1" immediate || true
  rm -rf -- "$1"
}

run_dir=""
child=""

run_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
    kill -TERM "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  if [ -n "$run_dir" ]; then
    discard_cluster "$run_dir"
  fi
  exit "$rc"
}

got_signal=0

on_signal() {
  # Asynchronous commands of a non-interactive shell ignore SIGINT, so CMD gets SIGTERM for both.
  if [ -n "$child" ]; then
    got_signal=1
    kill -TERM "$child" 2>/dev/null || true
  else
    exit "$1"  # still starting the cluster: clean up now
  fi
}

cmd_run() {
  if [ "$#" -lt 2 ] || [ "$1" != "--" ]; then usage; fi
  shift
  need_binaries
  trap run_cleanup EXIT
  trap 'on_signal 130' INT
  trap 'on_signal 143' TERM
  run_dir="$(mktemp -d "${TMPDIR:-/tmp}/certfleet-pg.XXXXXXXX")"
  # If this shell is killed outright (SIGKILL, e.g. a ctest timeout), its EXIT trap never runs.
  # A watchdog outside this process tree (setsid -f: its own session, reparented) holds the read
  # end of a pipe that only this shell writes to, and removes the cluster when the pipe reaches
  # end-of-file: when this shell is gone, however it went. Nothing else may inherit the write
  # end, or the end-of-file would wait for it: the server and CMD get it closed.
  local watchdog_fd
  exec {watchdog_fd}> >(exec setsid -f "$SELF" _reap "$run_dir" >/dev/null 2>&1)
  local url
  url="$(cmd_start "$run_dir" {watchdog_fd}>&-)"
  export CERTFLEET_TEST_PG_URL="$url"
  # In the background so that a signal reaches this shell while CMD runs; stdin stays CMD's.
  "$@" <&0 {watchdog_fd}>&- &
  child=$!
  local rc
  while :; do
    got_signal=0
    rc=0
    wait "$child" || rc=$?
    # A trapped signal ends `wait` early (status 128+N): wait again for CMD's own status, which
    # bash keeps even if it has already reaped CMD.
    [ "$got_signal" -eq 1 ] || break
  done
  child=""
  exit "$rc"
}

# Internal (see cmd_run): waits for end-of-file on stdin, then removes the cluster in DIR.
cmd_reap() {
  cat >/dev/null || true
  discard_cluster "$1"
}

[ "$#" -ge 1 ] || usage
case "$1" in
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  run) shift; cmd_run "$@" ;;
  _reap) shift; cmd_reap "$1" ;;
  *) usage ;;
esac
