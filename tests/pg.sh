#!/usr/bin/env bash
# Runs the API integration suite against PostgreSQL: the same tests as the
# SQLite run, each on a fresh database of its own (tests/api/helpers.rs
# creates one per test on the server named by TEST_DATABASE_URL).
#
#   1. installs Debian's PostgreSQL when initdb/pg_ctl are missing;
#   2. starts a throwaway cluster in a temporary directory on a free local
#      port (trust authentication, 127.0.0.1 only), as the `postgres` user
#      when run as root and as the current user otherwise;
#   3. runs `cargo test --locked --test api` with TEST_DATABASE_URL set;
#   4. stops the cluster and removes it on exit, whatever happened.
#
# Extra arguments go to the test binary's filter, e.g. `bash tests/pg.sh concurrency`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '[pg] %s\n' "$*" >&2; }

# The directory holding initdb and pg_ctl, installing PostgreSQL if needed.
pg_bin_dir() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && { echo "$dir"; return; }
  done
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    dirname "$(command -v pg_ctl)"
    return
  fi
  return 1
}

if ! BIN_DIR="$(pg_bin_dir)"; then
  log "installing PostgreSQL (Debian packages)"
  sudo=""; [ "$(id -u)" != 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
  BIN_DIR="$(pg_bin_dir)"
fi

# Runs a command as the cluster's owner: `postgres` when we are root
# (PostgreSQL refuses to run as root), ourselves otherwise.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# A local port nothing listens on (bash alone: the CI image may have no
# Python or Node.js at this point).
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}

PG_TMP="$(mktemp -d)"
PG_DATA="$PG_TMP/data"
cleanup() {
  if [ -f "$PG_DATA/postmaster.pid" ]; then
    as_owner "$BIN_DIR/pg_ctl" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$PG_TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[ "$(id -u)" = 0 ] && chown postgres "$PG_TMP"
PORT="$(free_port)"
log "starting a throwaway cluster on 127.0.0.1:$PORT ($("$BIN_DIR/postgres" --version))"
as_owner "$BIN_DIR/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 --no-locale >"$PG_TMP/initdb.log" 2>&1 \
  || { cat "$PG_TMP/initdb.log" >&2; exit 1; }
# Durability off: the cluster is thrown away, and every test creates a database.
as_owner "$BIN_DIR/pg_ctl" -D "$PG_DATA" -l "$PG_TMP/server.log" -w -t 60 start -o \
  "-p $PORT -k $PG_TMP -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
  >/dev/null || { cat "$PG_TMP/server.log" >&2; exit 1; }

export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/postgres"
log "API tests against $TEST_DATABASE_URL"
cargo test --locked --test api -- "$@"
