#!/usr/bin/env bash
# A private PostgreSQL cluster on 127.0.0.1 for the pop3-store-postgres tests (CI and developers).
# Usage: postgres.sh {start|stop|restart|crash|status|env|psql [args...]|pgbouncer-start|pgbouncer-stop|pgbouncer-env}
#
# Everything lives in one runtime directory (default /tmp/pop3-postgres): data directory, socket,
# log. Nothing under /etc/postgresql or /var/lib/postgresql is read or written, and the system
# cluster Debian creates at install time is never started. As root the server runs as the
# `postgres` user (runuser); as another user it runs as that user (initdb refuses root).
# Loopback connections are trusted (no password): this is a test cluster, never expose it.
set -euo pipefail

PORT="${POP3_PG_PORT:-15432}"
HOST=127.0.0.1
DATABASE="${POP3_PG_DATABASE:-pop3test}"
DB_USER=postgres
START_TIMEOUT="${POP3_PG_START_TIMEOUT:-60}"
MAX_CONNECTIONS="${POP3_PG_MAX_CONNECTIONS:-300}"
MAX_LOCKS="${POP3_PG_MAX_LOCKS_PER_TRANSACTION:-128}"
PGBOUNCER_PORT="${POP3_PGBOUNCER_PORT:-$((PORT + 1000))}"
if [ "$(id -u)" = 0 ]; then
  RUNTIME="${POP3_PG_RUNTIME:-/tmp/pop3-postgres}"
  RUN_AS=postgres
else
  RUNTIME="${POP3_PG_RUNTIME:-/tmp/pop3-postgres-$(id -u)}"
  RUN_AS="$(id -un)"
fi
DATA="$RUNTIME/data"
SOCKET_DIR="$RUNTIME/run"
LOG="$RUNTIME/postgres.log"
SELF="$(basename "$0")"

die() { printf '%s: error: %s\n' "$SELF" "$*" >&2; exit 1; }
info() { printf '%s: %s\n' "$SELF" "$*" >&2; }

usage() {
  cat <<EOF
Usage: $SELF <command>
  start     install PostgreSQL if missing (apt-get, as root), create the cluster and the database
            '$DATABASE' on first use, start it on $HOST:$PORT, wait until it answers; idempotent
  stop      stop this cluster (fast shutdown; never touches other PostgreSQL instances)
  restart   stop, then start (the tests use it to simulate a database outage)
  crash     stop at once, without a shutdown checkpoint (pg_ctl -m immediate): the next start
            runs crash recovery from the WAL, as after a power cut (the crash tests)
  status    exit 0 if this cluster is running and answering
  env       print 'export POP3_PG_URL=...' (use: eval "\$($SELF env)")
  psql      run psql against the test database (extra arguments are passed on)
  pgbouncer-start  start PgBouncer (installed by 'start', as root) on $HOST:$PGBOUNCER_PORT in
            front of this cluster, pool_mode = transaction; idempotent
  pgbouncer-stop   stop it
  pgbouncer-env    print 'export POP3_PGBOUNCER_URL=...' (the test database through PgBouncer)

Settings (environment): POP3_PG_PORT (default 15432), POP3_PG_DATABASE (pop3test),
POP3_PG_RUNTIME (runtime directory), POP3_PG_START_TIMEOUT (seconds, default 60),
POP3_PG_MAX_CONNECTIONS (default 300), POP3_PG_MAX_LOCKS_PER_TRANSACTION (default 128),
POP3_PGBOUNCER_PORT (default the port + 1000).
A second, throwaway cluster (the scale and crash tests start one): another POP3_PG_PORT and
POP3_PG_RUNTIME, e.g. POP3_PG_PORT=15433 POP3_PG_RUNTIME=/tmp/pop3-pg-b POP3_PG_MAX_CONNECTIONS=50.
EOF
}

as_pg() { # run a command as the cluster's owner
  if [ "$(id -u)" = 0 ]; then runuser -u "$RUN_AS" -- "$@"; else "$@"; fi
}

bin_dir() { # the newest installed PostgreSQL server binaries
  local dir
  dir="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] || return 1
  printf '%s' "$dir"
}

apt_install() { # apt_install pkg...: quiet unless it fails; 'apt-get update' only when needed
  local log rc=0
  log="$(mktemp)"
  local -a apt=(env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o Dpkg::Use-Pty=0
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  # Keep the packaged system cluster from starting (it would take port 5432) while we install.
  local policy=/usr/sbin/policy-rc.d added_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && added_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  info "installing $* (apt-get)"
  if ! "${apt[@]}" install --no-install-recommends "$@" </dev/null >"$log" 2>&1; then
    info "install failed without a package index refresh; running apt-get update"
    if "${apt[@]}" update </dev/null >"$log" 2>&1; then
      "${apt[@]}" install --no-install-recommends "$@" </dev/null >>"$log" 2>&1 || rc=$?
    else
      rc=$?
    fi
  fi
  if [ -n "$added_policy" ]; then
    rm -f "$policy"
    trap - EXIT
  fi
  if [ "$rc" -ne 0 ]; then
    cat "$log" >&2
    rm -f "$log"
    die "apt-get install $* failed"
  fi
  rm -f "$log"
}

ensure_installed() {
  if ! bin_dir >/dev/null || ! command -v psql >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || die "PostgreSQL is not installed; run as root to install it (apt-get install postgresql)"
    command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is not installed and apt-get is not available"
    apt_install postgresql postgresql-client
  fi
  # PgBouncer, for the transaction-pooling test; optional: without it that test is skipped.
  if ! command -v pgbouncer >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt_install pgbouncer) || info "pgbouncer could not be installed; its test will be skipped"
  fi
  bin_dir >/dev/null || die "PostgreSQL server binaries still missing after installation"
  if [ "$(id -u)" = 0 ]; then
    getent passwd "$RUN_AS" >/dev/null 2>&1 || die "system user '$RUN_AS' is missing (comes with postgresql-common)"
  fi
}

pg_ctl_() { as_pg "$(bin_dir)/pg_ctl" -D "$DATA" "$@"; }

running() { [ -f "$DATA/postmaster.pid" ] && pg_ctl_ status >/dev/null 2>&1; }

answering() { as_pg "$(bin_dir)/pg_isready" -q -h "$HOST" -p "$PORT" -d postgres -U "$DB_USER" -t 2 2>/dev/null; }

psql_() { psql -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PORT" -U "$DB_USER" "$@"; }

write_settings() { # our settings, included from postgresql.conf; rewritten on every start
  cat <<EOF
# Generated by scripts/postgres/postgres.sh on every start; edits are overwritten.
listen_addresses = '$HOST'
port = $PORT
unix_socket_directories = '$SOCKET_DIR'
max_connections = $MAX_CONNECTIONS
# The lock table holds max_locks_per_transaction x max_connections locks, and every logged-in
# POP3 session holds one advisory lock in it (on its node's lock connection).
max_locks_per_transaction = $MAX_LOCKS
shared_buffers = 64MB
# Notice dead clients (a killed node whose connection went quiet) within about a minute.
tcp_keepalives_idle = 30
tcp_keepalives_interval = 10
tcp_keepalives_count = 3
log_min_messages = warning
log_connections = off
log_disconnections = off
EOF
}

write_hba() {
  cat <<EOF
# Generated by scripts/postgres/postgres.sh: a test cluster, loopback only, no passwords.
local all all trust
host all all 127.0.0.1/32 trust
host all all ::1/128 trust
EOF
}

port_in_use() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$HOST" "$1" 2>/dev/null; }

cmd_start() {
  ensure_installed
  local bin
  bin="$(bin_dir)"
  install -d -m 0755 "$RUNTIME"
  if [ "$(id -u)" = 0 ]; then chown "$RUN_AS:" "$RUNTIME"; fi
  as_pg install -d -m 0700 "$SOCKET_DIR"
  if [ ! -s "$DATA/PG_VERSION" ]; then
    info "creating a cluster in $DATA ($("$bin/postgres" --version))"
    rm -rf "$DATA"
    as_pg "$bin/initdb" -D "$DATA" -U "$DB_USER" --auth=trust -E UTF8 --locale=C >"$RUNTIME/initdb.log" 2>&1 ||
      { cat "$RUNTIME/initdb.log" >&2; die "initdb failed"; }
    printf "\ninclude_if_exists = 'pop3-test.conf'\n" | as_pg tee -a "$DATA/postgresql.conf" >/dev/null
  fi
  local new_conf changed=
  new_conf="$(write_settings)"
  if [ "$new_conf" != "$(cat "$DATA/pop3-test.conf" 2>/dev/null || true)" ]; then
    printf '%s\n' "$new_conf" | as_pg tee "$DATA/pop3-test.conf" >/dev/null
    changed=1
  fi
  if [ "$(write_hba)" != "$(cat "$DATA/pg_hba.conf")" ]; then
    write_hba | as_pg tee "$DATA/pg_hba.conf" >/dev/null
    changed=1
  fi
  if running; then
    if [ -z "$changed" ] && answering; then
      info "already running on $HOST:$PORT ($DATA)"
      create_database
      return 0
    fi
    info "running cluster has a different configuration or is not answering; restarting"
    cmd_stop
  fi
  port_in_use "$PORT" && die "$HOST:$PORT is already in use by another process (set POP3_PG_PORT)"
  as_pg touch "$LOG"
  info "starting PostgreSQL on $HOST:$PORT (log $LOG)"
  if ! pg_ctl_ -l "$LOG" -w -t "$START_TIMEOUT" start >/dev/null 2>"$RUNTIME/pg_ctl.err"; then
    cat "$RUNTIME/pg_ctl.err" >&2 || true
    tail -n 30 "$LOG" >&2 || true
    die "PostgreSQL failed to start"
  fi
  local i
  for ((i = 0; i < START_TIMEOUT * 2; i++)); do
    answering && break
    sleep 0.5
  done
  answering || die "PostgreSQL started but does not answer on $HOST:$PORT"
  create_database
  info "ready: $(url)"
}

create_database() {
  if [ "$(psql_ -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" != 1 ]; then
    psql_ -d postgres -c "CREATE DATABASE \"$DATABASE\"" >/dev/null
    info "created database $DATABASE"
  fi
}

cmd_stop() {
  if ! bin_dir >/dev/null || ! running; then
    info "not running"
    return 0
  fi
  pg_ctl_ -m fast -w -t 60 stop >/dev/null
  info "stopped"
}

cmd_status() {
  if bin_dir >/dev/null && running && answering; then
    info "running on $HOST:$PORT ($DATA)"
    return 0
  fi
  info "not running"
  return 1
}

url() { printf 'postgres://%s@%s:%s/%s' "$DB_USER" "$HOST" "$PORT" "$DATABASE"; }

cmd_crash() {
  if ! bin_dir >/dev/null || ! running; then
    info "not running"
    return 0
  fi
  pg_ctl_ -m immediate -w -t 60 stop >/dev/null
  info "crashed (immediate stop; the next start recovers from the WAL)"
}

PGBOUNCER_DIR="$RUNTIME/pgbouncer"

write_pgbouncer_ini() {
  cat <<EOF
; Generated by scripts/postgres/postgres.sh: PgBouncer in transaction mode before the test cluster.
[databases]
* = host=$HOST port=$PORT

[pgbouncer]
listen_addr = $HOST
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $PGBOUNCER_DIR/users.txt
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 2
; pg sends statement_timeout as a startup parameter; PgBouncer refuses parameters it cannot
; keep per server connection unless told to ignore them.
ignore_startup_parameters = statement_timeout
logfile = $PGBOUNCER_DIR/pgbouncer.log
pidfile = $PGBOUNCER_DIR/pgbouncer.pid
admin_users = $DB_USER
EOF
}

pgbouncer_running() { [ -f "$PGBOUNCER_DIR/pgbouncer.pid" ] && kill -0 "$(cat "$PGBOUNCER_DIR/pgbouncer.pid")" 2>/dev/null; }

cmd_pgbouncer_start() {
  command -v pgbouncer >/dev/null 2>&1 || die "pgbouncer is not installed ('start' installs it, as root)"
  cmd_status >/dev/null 2>&1 || die "the cluster is not running: run '$SELF start' first"
  as_pg install -d -m 0700 "$PGBOUNCER_DIR"
  write_pgbouncer_ini | as_pg tee "$PGBOUNCER_DIR/pgbouncer.ini" >/dev/null
  printf '"%s" ""\n' "$DB_USER" | as_pg tee "$PGBOUNCER_DIR/users.txt" >/dev/null
  if pgbouncer_running; then
    kill -HUP "$(cat "$PGBOUNCER_DIR/pgbouncer.pid")" # reload the configuration
  else
    port_in_use "$PGBOUNCER_PORT" && die "$HOST:$PGBOUNCER_PORT is already in use (set POP3_PGBOUNCER_PORT)"
    # PgBouncer refuses to run as root: as the cluster's owner.
    as_pg pgbouncer -d -q "$PGBOUNCER_DIR/pgbouncer.ini" ||
      die "pgbouncer failed to start (log: $PGBOUNCER_DIR/pgbouncer.log)"
  fi
  local i
  for ((i = 0; i < 40; i++)); do
    port_in_use "$PGBOUNCER_PORT" && break
    sleep 0.25
  done
  port_in_use "$PGBOUNCER_PORT" || die "pgbouncer does not listen on $HOST:$PGBOUNCER_PORT"
  info "pgbouncer (transaction mode) on $HOST:$PGBOUNCER_PORT"
}

cmd_pgbouncer_stop() {
  if pgbouncer_running; then
    kill "$(cat "$PGBOUNCER_DIR/pgbouncer.pid")"
    info "pgbouncer stopped"
  else
    info "pgbouncer not running"
  fi
}

cmd_env() {
  printf 'export POP3_PG_URL=%q\n' "$(url)"
  printf 'export POP3_PG_SCRIPT=%q\n' "$(cd "$(dirname "$0")" && pwd)/$SELF"
}

main() {
  [ $# -ge 1 ] || { usage >&2; exit 2; }
  local cmd="$1"
  shift
  case "$cmd" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    restart) cmd_stop; cmd_start ;;
    crash) cmd_crash ;;
    pgbouncer-start) cmd_pgbouncer_start ;;
    pgbouncer-stop) cmd_pgbouncer_stop ;;
    pgbouncer-env) printf 'export POP3_PGBOUNCER_URL=%q\n' "postgres://$DB_USER@$HOST:$PGBOUNCER_PORT/$DATABASE" ;;
    status) cmd_status ;;
    env) cmd_env ;;
    psql) psql_ -d "$DATABASE" "$@" ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
