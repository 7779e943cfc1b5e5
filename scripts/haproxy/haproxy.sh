#!/usr/bin/env bash
# HAProxy for the PROXY protocol tests of pop3-server (CI and developers).
# Usage: haproxy.sh {install|env|config <listen-port> <backend-port> [tls-listen-port tls-backend-port]}
#
# The tests start HAProxy themselves, in the foreground, with a generated configuration that
# points at the test server's ports (which are only known at run time) and stop it when they end;
# this script only makes sure the binary is there and says where. No system HAProxy is started or
# touched: the Debian package's service is kept from starting at install.
set -euo pipefail

SELF="$(basename "$0")"
die() { printf '%s: error: %s\n' "$SELF" "$*" >&2; exit 1; }
info() { printf '%s: %s\n' "$SELF" "$*" >&2; }

usage() {
  cat <<EOF
Usage: $SELF <command>
  install                     install haproxy with apt-get if it is missing (root); idempotent
  env                         print 'export POP3_HAPROXY_BIN=...' (use: eval "\$($SELF env)")
  config <port> <backend> [<tls-port> <tls-backend>]
                              print a config forwarding 127.0.0.1:<port> to 127.0.0.1:<backend>
                              with send-proxy-v2 (and the same for implicit TLS, passed through)
EOF
}

haproxy_bin() {
  local bin
  bin="$(command -v haproxy 2>/dev/null || true)"
  [ -n "$bin" ] || { [ -x /usr/sbin/haproxy ] && bin=/usr/sbin/haproxy; }
  [ -n "$bin" ] || return 1
  printf '%s' "$bin"
}

cmd_install() {
  if bin="$(haproxy_bin)"; then
    info "$("$bin" -v | head -n 1) ($bin)"
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "haproxy is not installed; run as root to install it (apt-get install haproxy)"
  command -v apt-get >/dev/null 2>&1 || die "haproxy is not installed and apt-get is not available"
  local -a apt=(env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o Dpkg::Use-Pty=0
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  local policy=/usr/sbin/policy-rc.d added_policy= log rc=0
  log="$(mktemp)"
  # Keep the packaged service from starting (it would bind its own ports) while we install.
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && added_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  info "installing haproxy (apt-get)"
  if ! "${apt[@]}" install --no-install-recommends haproxy </dev/null >"$log" 2>&1; then
    info "install failed without a package index refresh; running apt-get update"
    if "${apt[@]}" update </dev/null >"$log" 2>&1; then
      "${apt[@]}" install --no-install-recommends haproxy </dev/null >>"$log" 2>&1 || rc=$?
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
    die "apt-get install haproxy failed"
  fi
  rm -f "$log"
  bin="$(haproxy_bin)" || die "haproxy still missing after installation"
  info "$("$bin" -v | head -n 1) ($bin)"
}

cmd_env() {
  local bin
  bin="$(haproxy_bin)" || die "haproxy is not installed (run: $SELF install)"
  printf 'export POP3_HAPROXY_BIN=%q\n' "$bin"
}

cmd_config() {
  [ $# -eq 2 ] || [ $# -eq 4 ] || die "usage: $SELF config <port> <backend> [<tls-port> <tls-backend>]"
  cat <<EOF
global
  maxconn 1000

defaults
  mode tcp
  timeout connect 5s
  # POP3 sessions may idle for 10 minutes (RFC 1939 autologout): allow a little more.
  timeout client 11m
  timeout server 11m

frontend pop3
  bind 127.0.0.1:$1
  default_backend pop3_nodes

backend pop3_nodes
  server node1 127.0.0.1:$2 send-proxy-v2
EOF
  if [ $# -eq 4 ]; then
    cat <<EOF

# Implicit TLS passed through: the TLS session is between the client and pop3-server, which
# reads the PROXY header before the handshake.
frontend pop3s
  bind 127.0.0.1:$3
  default_backend pop3s_nodes

backend pop3s_nodes
  server node1 127.0.0.1:$4 send-proxy-v2
EOF
  fi
}

main() {
  [ $# -ge 1 ] || { usage >&2; exit 2; }
  local cmd="$1"
  shift
  case "$cmd" in
    install) cmd_install ;;
    env) cmd_env ;;
    config) cmd_config "$@" ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
