#!/usr/bin/env bash
# `pnpm test`: every test of every package. Starts the real peers the interop suites need
# (Dovecot on 127.0.0.1:11110/11995, fetchmail, procmail, PostgreSQL on 127.0.0.1:15432, HAProxy) when this
# machine allows it (root, or sudo without
# a password); otherwise those suites skip and say so. With POP3_REQUIRE_PEERS=1 (CI) a peer that
# cannot be started fails the run instead.
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1

can_root() { [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

if [ "${POP3_SKIP_PEERS:-0}" != 1 ] && can_root; then
  # fetchmail for the server's interop suite, procmail as the CLI's --mda peer.
  if ! command -v fetchmail >/dev/null 2>&1 || ! command -v procmail >/dev/null 2>&1; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends fetchmail procmail >/dev/null 2>&1 ||
      { as_root apt-get update -qq >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends fetchmail procmail >/dev/null; }
  fi
  bash scripts/dovecot/dovecot.sh start
  eval "$(bash scripts/dovecot/dovecot.sh env)"
  bash scripts/postgres/postgres.sh start
  eval "$(bash scripts/postgres/postgres.sh env)"
  bash scripts/haproxy/haproxy.sh install
  eval "$(bash scripts/haproxy/haproxy.sh env)"
elif [ "${POP3_REQUIRE_PEERS:-0}" = 1 ]; then
  echo "test-all: POP3_REQUIRE_PEERS=1 but peers cannot be started (need root or passwordless sudo)" >&2
  exit 1
else
  echo "test-all: not root: Dovecot, fetchmail, procmail, PostgreSQL and HAProxy tests will be skipped" >&2
fi

exec pnpm exec turbo run test --continue "$@"
