#!/usr/bin/env bash
# A private Dovecot 2.3 POP3 server on 127.0.0.1 for interop tests (CI and developers).
# See README.md beside this script. Usage: dovecot.sh {start|stop|restart|status|env|reset-mail [user]|deliver <user> [file|-]}
#
# Everything lives in one runtime directory (default /tmp/pop3-dovecot); nothing under
# /etc/dovecot is read or written. Needs root for start/stop/reset-mail/deliver (Dovecot switches to
# uid/gid 65534 for mail processes and the Maildirs must be owned by it).
set -euo pipefail

RUNTIME="${DOVECOT_RUNTIME:-/tmp/pop3-dovecot}"
POP3_PORT="${DOVECOT_POP3_PORT:-11110}"
POP3S_PORT="${DOVECOT_POP3S_PORT:-11995}"
# "no": cleartext USER/PASS and AUTH PLAIN allowed without TLS (loopback counts as secure anyway).
# "yes": Dovecot's real "-ERR [AUTH] Plaintext authentication disallowed" path for non-loopback peers.
DISABLE_PLAINTEXT_AUTH="${DOVECOT_DISABLE_PLAINTEXT_AUTH:-no}"
START_TIMEOUT="${DOVECOT_START_TIMEOUT:-30}"
# "stock": Dovecot's high-security process model (a new pop3-login and a new pop3 process per
# connection, service_count = 1), auth_verbose on; the test suites' instance.
# "performance": Dovecot's high-performance mode, for benchmarks: pop3-login and pop3 processes
# serve any number of connections (service_count = 0), process_min_avail of each = the CPUs,
# no info or verbose logging (info_log_path = /dev/null, auth_verbose = no).
MODE="${DOVECOT_MODE:-stock}"
HOST=127.0.0.1
MAIL_UID=65534
MAIL_GID=65534
# One user per test suite, so suites that run at the same time never reset each other's mail:
# bob = pop3-client interop, carol = conformance suite, dave = CLI, alice and erin = ad hoc.
USERS=(alice:alice-password bob:bob-password carol:carol-password dave:dave-password erin:erin-password)
# More users for a private instance (the benchmarks start one with their own DOVECOT_RUNTIME):
# "user:password,user:password". Names: letters, digits, '.', '_', '-'; passwords: no ':', ',' or
# whitespace. Added after the five above; the test suites' instance never sets it.
EXTRA_USERS="${DOVECOT_EXTRA_USERS:-}"

CONF="$RUNTIME/dovecot.conf"
BASE_DIR="$RUNTIME/run"
STATE_DIR="$RUNTIME/state"
LOG="$RUNTIME/dovecot.log"
TLS_DIR="$RUNTIME/tls"
CERT="$TLS_DIR/server.crt"
KEY="$TLS_DIR/server.key"
CA="$TLS_DIR/ca.crt"
PASSWD="$RUNTIME/users.passwd"
MAIL_ROOT="$RUNTIME/mail"
PID_FILE="$BASE_DIR/master.pid"

SELF="$(basename "$0")"

die() { printf '%s: error: %s\n' "$SELF" "$*" >&2; exit 1; }
info() { printf '%s: %s\n' "$SELF" "$*" >&2; }

usage() {
  cat <<EOF
Usage: $SELF <command>
  start                 install dovecot if missing, (re)generate config, start, wait until ready
  stop                  stop this instance (never touches other dovecot instances)
  restart               stop, then start
  status                exit 0 if this instance is running and answering on both ports
  env                   print 'export POP3_DOVECOT_*=...' lines (use: eval "\$($SELF env)")
  reset-mail [user]     empty the user's Maildir (all users if none given)
  deliver <user> [file] deliver one message (file, or stdin if '-' or omitted) into the user's
                        Maildir/new; prints the delivered file's path
Environment: DOVECOT_RUNTIME (default /tmp/pop3-dovecot), DOVECOT_POP3_PORT (11110),
  DOVECOT_POP3S_PORT (11995), DOVECOT_DISABLE_PLAINTEXT_AUTH (no), DOVECOT_START_TIMEOUT (30 s),
  DOVECOT_EXTRA_USERS ("user:password,..." added to the five users; none by default),
  DOVECOT_MODE (stock: a process per connection; performance: Dovecot's high-performance mode)
EOF
}

need_root() {
  [ "$(id -u)" -eq 0 ] && return 0
  if command -v sudo >/dev/null 2>&1; then
    exec sudo -n --preserve-env=DOVECOT_RUNTIME,DOVECOT_POP3_PORT,DOVECOT_POP3S_PORT,DOVECOT_DISABLE_PLAINTEXT_AUTH,DOVECOT_START_TIMEOUT,DOVECOT_EXTRA_USERS,DOVECOT_MODE \
      "$0" "$@"
  fi
  die "'$1' must run as root (Dovecot drops to uid $MAIL_UID for mail access)"
}

validate_settings() {
  case "$POP3_PORT$POP3S_PORT" in *[!0-9]*) die "ports must be numeric" ;; esac
  [ "$POP3_PORT" != "$POP3S_PORT" ] || die "DOVECOT_POP3_PORT and DOVECOT_POP3S_PORT must differ"
  case "$RUNTIME" in
    /*) ;;
    *) die "DOVECOT_RUNTIME must be an absolute path (got '$RUNTIME')" ;;
  esac
  case "$RUNTIME" in
    / | *[[:space:]]* | *'"'* | *'<'* | *'%'* | *'$'*) die "unsuitable DOVECOT_RUNTIME: '$RUNTIME'" ;;
  esac
  case "$DISABLE_PLAINTEXT_AUTH" in yes | no) ;; *) die "DOVECOT_DISABLE_PLAINTEXT_AUTH must be yes or no" ;; esac
  case "$MODE" in stock | performance) ;; *) die "DOVECOT_MODE must be stock or performance" ;; esac
  add_extra_users
}

add_extra_users() { # appends DOVECOT_EXTRA_USERS to USERS, once
  [ -n "$EXTRA_USERS" ] || return 0
  local entry
  local -a entries
  IFS=, read -r -a entries <<<"$EXTRA_USERS"
  for entry in "${entries[@]}"; do
    [[ "$entry" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*:[^:,[:space:]]+$ ]] ||
      die "DOVECOT_EXTRA_USERS: bad entry '${entry%%:*}:...' (want user:password)"
    user_password "${entry%%:*}" >/dev/null && die "DOVECOT_EXTRA_USERS: user '${entry%%:*}' given twice"
    USERS+=("$entry")
  done
  EXTRA_USERS=
}

user_password() { # prints the password of a known user, fails otherwise
  local entry
  for entry in "${USERS[@]}"; do
    if [ "${entry%%:*}" = "$1" ]; then
      printf '%s' "${entry#*:}"
      return 0
    fi
  done
  return 1
}

known_user() { user_password "$1" >/dev/null || die "unknown user '$1' (known: $(user_names))"; }
user_names() { local e out=(); for e in "${USERS[@]}"; do out+=("${e%%:*}"); done; printf '%s' "${out[*]}"; }

# ---------------------------------------------------------------------------------------------
# installation

apt_install() { # apt_install pkg...: quiet unless it fails; 'apt-get update' only when needed
  local log rc=0
  log="$(mktemp)"
  local -a apt=(env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o Dpkg::Use-Pty=0
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  # Keep the packaged system instance from starting (it would take 110/143/995) while we install.
  local policy=/usr/sbin/policy-rc.d added_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && added_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  info "installing $* (apt-get)"
  if ! "${apt[@]}" install --no-install-recommends "$@" </dev/null >"$log" 2>&1; then
    info "install failed without a package index refresh; running apt-get update"
    { echo "--- first attempt (before apt-get update) ---"; cat "$log"; } >"$log.first"
    if "${apt[@]}" update </dev/null >"$log" 2>&1; then
      "${apt[@]}" install --no-install-recommends "$@" </dev/null >>"$log" 2>&1 || rc=$?
    else
      rc=$?
    fi
    [ "$rc" -eq 0 ] || cat "$log.first" >&2
    rm -f "$log.first"
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
  grep -E '^(E|W):' "$log" >&2 || true # warnings of the successful run, without the chatter
  rm -f "$log"
}

ensure_installed() {
  local -a pkgs=()
  if ! command -v dovecot >/dev/null 2>&1 || [ ! -x /usr/lib/dovecot/pop3-login ]; then
    pkgs+=(dovecot-core dovecot-pop3d)
  fi
  command -v openssl >/dev/null 2>&1 || pkgs+=(openssl)
  command -v doveadm >/dev/null 2>&1 || pkgs+=(dovecot-core)
  if [ "${#pkgs[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || die "dovecot is not installed and apt-get is not available"
    mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
    apt_install "${pkgs[@]}"
  fi
  command -v dovecot >/dev/null 2>&1 || die "dovecot still missing after installation"
  [ -x /usr/lib/dovecot/pop3-login ] || die "dovecot-pop3d still missing after installation"
  getent passwd dovecot >/dev/null 2>&1 || die "system user 'dovecot' is missing (comes with dovecot-core)"
  getent passwd dovenull >/dev/null 2>&1 || die "system user 'dovenull' is missing (comes with dovecot-core)"
}

# ---------------------------------------------------------------------------------------------
# runtime files

make_tls() {
  [ -s "$CERT" ] && [ -s "$KEY" ] && [ -s "$CA" ] && return 0
  local tmp
  tmp="$(mktemp -d)"
  # Self-signed leaf that is also its own CA: clients trust $CA (identical to $CERT).
  if ! openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
    -keyout "$tmp/server.key" -out "$tmp/server.crt" \
    -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign" \
    -addext "extendedKeyUsage=serverAuth" >"$tmp/openssl.log" 2>&1; then
    cat "$tmp/openssl.log" >&2
    rm -rf "$tmp"
    die "openssl could not create the test certificate"
  fi
  install -d -m 0755 "$TLS_DIR"
  install -m 0600 "$tmp/server.key" "$KEY"
  install -m 0644 "$tmp/server.crt" "$CERT"
  install -m 0644 "$tmp/server.crt" "$CA"
  rm -rf "$tmp"
}

write_passwd() { # passwd-file: user:{PLAIN}password:uid:gid:gecos:home:shell:extra
  local entry tmp
  tmp="$(mktemp "$RUNTIME/.users.XXXXXX")"
  for entry in "${USERS[@]}"; do
    # extra field "nodelay": reply to a wrong password at once instead of via the failure queue
    printf '%s:{PLAIN}%s:%s:%s::%s::nodelay=yes\n' "${entry%%:*}" "${entry#*:}" "$MAIL_UID" "$MAIL_GID" \
      "$MAIL_ROOT/${entry%%:*}" >>"$tmp"
  done
  chmod 0644 "$tmp" # test credentials only; readable so the auth process (user dovecot) can read it
  mv -f "$tmp" "$PASSWD"
}

cpu_count() { nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1; }

# The lines that differ between the modes (see MODE above). Stock mode's are the ones the test
# instance always had, so its configuration, and a running instance, stay as they were.
mode_instance_name() { if [ "$MODE" = performance ]; then printf 'pop3-dovecot-hp'; else printf 'pop3-dovecot'; fi; }
mode_auth_verbose() { if [ "$MODE" = performance ]; then printf 'no'; else printf 'yes'; fi; }
mode_logging() { # printed right after a line of the template, so it starts with a newline
  [ "$MODE" = performance ] || return 0
  cat <<EOF

# High-performance mode: info messages (a login, a logout) are not written anywhere.
info_log_path = /dev/null
# Long-lived pop3 and pop3-login processes each keep a connection to auth: room for all of them.
service auth {
  client_limit = 2048
}
EOF
}
mode_service() { # extra lines inside "service pop3-login { }" and "service pop3 { }", likewise
  [ "$MODE" = performance ] || return 0
  cat <<EOF

  # High-performance mode: a process serves connection after connection (never exits after
  # one), and as many as there are CPUs wait ready before the first connection.
  service_count = 0
  process_min_avail = $(cpu_count)
EOF
}

render_conf() {
  cat <<EOF
# Generated by scripts/dovecot/dovecot.sh on every start; edits are overwritten.
# Self-contained: nothing from /etc/dovecot is included.
instance_name = $(mode_instance_name)
base_dir = $BASE_DIR
state_dir = $STATE_DIR
log_path = $LOG
protocols = pop3
listen = $HOST
shutdown_clients = yes$(mode_logging)

ssl = yes
ssl_cert = <$CERT
ssl_key = <$KEY
ssl_min_protocol = TLSv1.2

# Cleartext logins allowed explicitly (loopback -> loopback counts as secure anyway).
disable_plaintext_auth = $DISABLE_PLAINTEXT_AUTH
# {PLAIN} passwords, so the challenge-response mechanisms work too. APOP is not a SASL
# mechanism: "apop" here only makes pop3-login put a <timestamp> in the greeting and accept APOP.
auth_mechanisms = plain login cram-md5 apop
# Failed logins answer at once (tests try wrong passwords). Dovecot delays failures in three
# ways: auth_failure_delay (default 2 s); a failure queue flushed every 0.5 s unless the failed
# request carries the passdb extra field "nodelay"; and a per-IP penalty (2, 4, 8, 15 s) kept by
# anvil -- see "service anvil" below.
auth_failure_delay = 0
auth_verbose = $(mode_auth_verbose)
auth_cache_size = 0

# Extra fields of a passdb that fails are dropped, so "nodelay" in the passwd-file only helps the
# mechanisms that look credentials up (CRAM-MD5, APOP). For USER/PASS, PLAIN and LOGIN this
# first passdb authenticates nobody ("noauthenticate"); it only adds "nodelay" and passes on
# with the status unchanged ("continue"). It must stay limited to plain/login: a passdb that cannot
# look up credentials would make Dovecot disable CRAM-MD5 and APOP.
passdb {
  driver = static
  args = noauthenticate nodelay=yes
  mechanisms = plain login
  result_success = continue
  result_failure = continue
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $PASSWD
}
userdb {
  driver = passwd-file
  args = username_format=%u $PASSWD
}
first_valid_uid = 1000
first_valid_gid = 1000
mail_location = maildir:$MAIL_ROOT/%u/Maildir

mail_max_userip_connections = 100
pop3_uidl_format = %08Xu%08Xv
pop3_client_workarounds =

service pop3-login {
  inet_listener pop3 {
    address = $HOST
    port = $POP3_PORT
  }
  inet_listener pop3s {
    address = $HOST
    port = $POP3S_PORT
    ssl = yes
  }
  process_limit = 200$(mode_service)
}
service pop3 {
  process_limit = 1024$(mode_service)
}
# ... and no per-IP penalty (2, 4, 8, 15 s) either: without this socket the auth process
# cannot reach anvil's penalty table and skips the penalty.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
EOF
}

ensure_maildir() { # ensure_maildir user: home + Maildir/{new,cur,tmp} owned by the mail uid
  local home="$MAIL_ROOT/$1"
  install -d -m 0755 "$MAIL_ROOT"
  install -d -m 0700 -o "$MAIL_UID" -g "$MAIL_GID" "$home" "$home/Maildir" \
    "$home/Maildir/new" "$home/Maildir/cur" "$home/Maildir/tmp"
}

check_access() { # the mail uid must be able to reach its Maildir (a 0700 parent breaks this)
  command -v setpriv >/dev/null 2>&1 || return 0
  local user="${USERS[0]%%:*}"
  if ! setpriv --reuid="$MAIL_UID" --regid="$MAIL_GID" --clear-groups \
    test -w "$MAIL_ROOT/$user/Maildir/new" 2>/dev/null; then
    die "uid $MAIL_UID cannot write $MAIL_ROOT/$user/Maildir/new: choose a DOVECOT_RUNTIME whose parent directories are world-searchable"
  fi
}

# ---------------------------------------------------------------------------------------------
# process handling

master_pid() { # prints the master pid if this instance's master is alive
  local pid comm
  [ -r "$PID_FILE" ] || return 1
  pid="$(tr -dc '0-9' <"$PID_FILE")"
  [ -n "$pid" ] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  comm="$(cat "/proc/$pid/comm" 2>/dev/null || true)"
  [ -z "$comm" ] || [ "$comm" = dovecot ] || return 1 # stale pid file, pid reused
  printf '%s' "$pid"
}

greeting_plain() { # first line from the cleartext port
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 5 bash -c '
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    IFS= read -r line <&3 || exit 1
    printf "QUIT\r\n" >&3
    printf "%s\n" "$line"' _ "$HOST" "$1" 2>/dev/null
}

greeting_tls() { # first POP3 line from the implicit-TLS port, verifying the certificate
  # s_client sends QUIT only after the handshake; -quiet ignores stdin EOF, so the greeting and
  # the QUIT reply are read before the server closes. Output is captured whole (no "| head"):
  # with pipefail a SIGPIPE'd s_client would turn a good answer into a failure.
  local out
  out="$(printf 'QUIT\r\n' | timeout 5 openssl s_client -quiet -connect "$HOST:$1" \
    -servername localhost -verify_return_error -verify_hostname localhost -CAfile "$CA" \
    2>/dev/null)" || true
  [ -n "$out" ] || return 1
  printf '%s\n' "${out%%$'\n'*}"
}

ports_ready() {
  local plain tls
  plain="$(greeting_plain "$POP3_PORT")" || return 1
  case "$plain" in "+OK"*) ;; *) return 1 ;; esac
  tls="$(greeting_tls "$POP3S_PORT")" || return 1
  case "$tls" in "+OK"*) ;; *) return 1 ;; esac
}

# shellcheck disable=SC2016 # expanded by the inner bash
port_in_use() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$HOST" "$1" 2>/dev/null; }

wait_stopped() { # wait_stopped pid seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

cmd_start() {
  validate_settings
  ensure_installed
  install -d -m 0755 "$RUNTIME"
  install -d -m 0755 "$STATE_DIR"
  make_tls
  write_passwd
  local entry new_conf pid i
  for entry in "${USERS[@]}"; do ensure_maildir "${entry%%:*}"; done
  check_access

  new_conf="$(mktemp "$RUNTIME/.conf.XXXXXX")"
  render_conf >"$new_conf"
  chmod 0644 "$new_conf"
  if pid="$(master_pid)"; then
    if cmp -s "$new_conf" "$CONF" && ports_ready; then
      rm -f "$new_conf"
      info "already running (pid $pid) on $HOST:$POP3_PORT and $HOST:$POP3S_PORT"
      return 0
    fi
    info "running instance has a different configuration or is not answering; restarting"
    cmd_stop
  fi
  mv -f "$new_conf" "$CONF"
  rm -f "$PID_FILE" # stale (master not running); a reused pid would make dovecot refuse to start
  if ! doveconf -c "$CONF" -n >/dev/null 2>"$RUNTIME/doveconf.err"; then
    cat "$RUNTIME/doveconf.err" >&2
    die "invalid configuration $CONF"
  fi
  rm -f "$RUNTIME/doveconf.err"
  for i in "$POP3_PORT" "$POP3S_PORT"; do
    port_in_use "$i" && die "$HOST:$i is already in use by another process (set DOVECOT_POP3_PORT / DOVECOT_POP3S_PORT)"
  done

  : >>"$LOG"
  info "starting dovecot $(dovecot --version | cut -d' ' -f1) (config $CONF)"
  # The daemonized master keeps its stderr open for good: never hand it ours (a caller reading our
  # output through a pipe, e.g. "dovecot.sh start | tee", would wait forever).
  if ! dovecot -c "$CONF" </dev/null >"$RUNTIME/dovecot.stderr" 2>&1; then
    cat "$RUNTIME/dovecot.stderr" >&2
    tail -n 40 "$LOG" >&2 || true
    die "dovecot failed to start"
  fi
  for ((i = 0; i < START_TIMEOUT * 2; i++)); do
    if ports_ready; then
      pid="$(master_pid || true)"
      info "ready (pid ${pid:-?}): pop3://$HOST:$POP3_PORT (STLS) and pop3s://$HOST:$POP3S_PORT"
      return 0
    fi
    if ! master_pid >/dev/null && [ "$i" -ge 4 ]; then
      break
    fi
    sleep 0.5
  done
  info "dovecot did not become ready within ${START_TIMEOUT}s"
  info "  $HOST:$POP3_PORT greeting: $(greeting_plain "$POP3_PORT" || echo '(none)')"
  info "  $HOST:$POP3S_PORT greeting (TLS, verified with $CA): $(greeting_tls "$POP3S_PORT" || echo '(none)')"
  info "last log lines ($LOG):"
  cat "$RUNTIME/dovecot.stderr" >&2 2>/dev/null || true
  tail -n 20 "$LOG" >&2 || true
  if master_pid >/dev/null; then cmd_stop; fi
  exit 1
}

cmd_stop() {
  local pid
  if ! pid="$(master_pid)"; then
    info "not running"
    return 0
  fi
  doveadm -c "$CONF" stop >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
  if ! wait_stopped "$pid" 15; then
    info "master $pid did not exit after 15 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_stopped "$pid" 5 || die "could not stop dovecot master $pid"
  fi
  info "stopped (pid $pid)"
}

cmd_status() {
  local pid
  if pid="$(master_pid)" && ports_ready; then
    info "running (pid $pid) on $HOST:$POP3_PORT and $HOST:$POP3S_PORT"
    return 0
  fi
  info "not running"
  return 1
}

cmd_env() {
  local entry users=()
  for entry in "${USERS[@]}"; do users+=("$entry"); done
  printf 'export POP3_DOVECOT_HOST=%q\n' "$HOST"
  printf 'export POP3_DOVECOT_PORT=%q\n' "$POP3_PORT"
  printf 'export POP3_DOVECOT_TLS_PORT=%q\n' "$POP3S_PORT"
  printf 'export POP3_DOVECOT_CA=%q\n' "$CA"
  printf 'export POP3_DOVECOT_MAIL_ROOT=%q\n' "$MAIL_ROOT"
  printf 'export POP3_DOVECOT_USERS=%q\n' "$(IFS=,; printf '%s' "${users[*]}")"
}

cmd_reset_mail() {
  local entry user targets=()
  if [ $# -gt 0 ]; then
    for user in "$@"; do known_user "$user"; targets+=("$user"); done
  else
    for entry in "${USERS[@]}"; do targets+=("${entry%%:*}"); done
  fi
  for user in "${targets[@]}"; do
    # The whole home goes: messages, dovecot-uidlist, dovecot.index*, dovecot-keywords, ...
    rm -rf -- "${MAIL_ROOT:?}/$user"
    ensure_maildir "$user"
    info "emptied $MAIL_ROOT/$user/Maildir"
  done
}

unique_name() {
  local now host
  now="$(date +%s.%N)"
  host="$(cat /proc/sys/kernel/hostname 2>/dev/null || uname -n)"
  host="${host//\//\\057}"
  host="${host//:/\\072}"
  printf '%s.M%sP%sQ%sR%s.%s' "${now%.*}" "${now#*.}" "$$" "$1" "$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')" "$host"
}

DELIVER_SEQ=0
cmd_deliver() {
  if [ $# -lt 1 ] || [ $# -gt 2 ]; then die "usage: $SELF deliver <user> [file|-]"; fi
  local user="$1" src="${2:--}" md tmp_path name
  known_user "$user"
  md="$MAIL_ROOT/$user/Maildir"
  [ -d "$md/new" ] || ensure_maildir "$user"
  DELIVER_SEQ=$((DELIVER_SEQ + 1))
  name="$(unique_name "$DELIVER_SEQ")"
  tmp_path="$md/tmp/$name"
  if [ "$src" = - ]; then
    cat >"$tmp_path"
  else
    [ -f "$src" ] || die "no such file: $src"
    cat -- "$src" >"$tmp_path"
  fi
  chown "$MAIL_UID:$MAIL_GID" "$tmp_path"
  chmod 0600 "$tmp_path"
  mv -- "$tmp_path" "$md/new/$name" # same filesystem: atomic rename
  printf '%s\n' "$md/new/$name"
}

main() {
  [ $# -ge 1 ] || { usage >&2; exit 2; }
  local cmd="$1"
  shift
  case "$cmd" in
    start) need_root start "$@"; cmd_start ;;
    stop) need_root stop "$@"; validate_settings; cmd_stop ;;
    restart) need_root restart "$@"; validate_settings; cmd_stop; cmd_start ;;
    status) validate_settings; cmd_status ;;
    env) validate_settings; cmd_env ;;
    reset-mail) need_root reset-mail "$@"; validate_settings; cmd_reset_mail "$@" ;;
    deliver) need_root deliver "$@"; validate_settings; cmd_deliver "$@" ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
