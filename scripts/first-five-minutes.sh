#!/usr/bin/env bash
# The first five minutes of a new user, on a fresh clone: run the README's first command (read
# from its first code block, so this cannot drift from it), wait for the demo server's banner,
# then run every command the banner prints exactly as printed, from the clone's root, and check
# each one worked — including that the message the "deliver" command adds shows up in the CLI.
#
#   bash scripts/first-five-minutes.sh [REPOSITORY]     (default: this repository)
#
# The clone is of the repository's committed HEAD. `npm install -g` in the README's command goes
# to a private prefix (NPM_CONFIG_PREFIX), so the machine's own pnpm is left alone. The demo
# listens on free ports (POP3_DEMO_PORT=0); the banner prints the ones it got.
# FIRST_FIVE_MINUTES_TIMEOUT: seconds to wait for the banner (default 900).
set -euo pipefail

repo="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
timeout_s="${FIRST_FIVE_MINUTES_TIMEOUT:-900}"
work="$(mktemp -d "${TMPDIR:-/tmp}/first-five-minutes.XXXXXX")"
clone="$work/clone"
log="$work/demo.log"
demo_pid=""
started=$SECONDS

say() { printf '[first-five-minutes %3ds] %s\n' "$((SECONDS - started))" "$*"; }
fail() {
  say "FAILED: $*"
  exit 1
}

stop_demo() {
  # The first command runs in its own session (setsid): its process group is npm, pnpm, turbo
  # and the server. SIGINT is what Ctrl-C sends.
  if [ -n "$demo_pid" ] && kill -0 "$demo_pid" 2>/dev/null; then
    kill -INT -- "-$demo_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$demo_pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$demo_pid" 2>/dev/null; then
      say "the demo did not stop on SIGINT within 20 s; killing it"
      kill -KILL -- "-$demo_pid" 2>/dev/null || true
      return 1
    fi
  fi
  return 0
}

cleanup() {
  local status=$?
  stop_demo || true
  if [ "$status" -ne 0 ]; then
    echo "--- demo output (last 40 lines) ---"
    tail -n 40 "$log" 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

# The banner's commands use curl and python3, as a user's machine has them; a bare CI machine
# gets them from apt when this runs as root.
missing=()
for tool in git curl python3; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || fail "missing: ${missing[*]}"
  say "installing ${missing[*]} with apt-get"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" ca-certificates >/dev/null
fi

say "cloning $repo"
git clone --quiet "$repo" "$clone"
cd "$clone"

# The first line of the README's first code block, without its trailing comment.
first_command="$(awk '/^```/ { if (inside) exit; inside = 1; next } inside && NF { print; exit }' README.md |
  sed -E 's/[[:space:]]+#[^"'\'']*$//')"
[ -n "$first_command" ] || fail "no command in README.md's first code block"
first_block_lines="$(awk '/^```/ { if (inside) exit; inside = 1; next } inside && NF' README.md | wc -l)"
[ "$first_block_lines" -eq 2 ] ||
  fail "README.md's first code block has $first_block_lines lines; it is the two commands: set up + demo, test"
say "README's first command: $first_command"

mkdir -p "$work/npm-global"
export NPM_CONFIG_PREFIX="$work/npm-global"
export PATH="$work/npm-global/bin:$PATH"
export POP3_DEMO_PORT=0 POP3_DEMO_TLS_PORT=0 NO_COLOR=1

setsid bash -c "$first_command" >"$log" 2>&1 </dev/null &
demo_pid=$!

until grep -q "^Stop with Ctrl-C" "$log" 2>/dev/null; do
  kill -0 "$demo_pid" 2>/dev/null || fail "the first command ended before the demo was ready"
  [ $((SECONDS - started)) -lt "$timeout_s" ] || fail "no banner within $timeout_s s"
  sleep 1
done
say "the demo is ready"

# Every "  label   command" line between "Connect with" and "Stop with Ctrl-C".
declare -A commands=()
labels=()
while IFS= read -r line; do
  if [[ "$line" =~ ^\ \ ([^ ].*[^ ])\ \ +([^ ].*)$ ]]; then
    commands["${BASH_REMATCH[1]}"]="${BASH_REMATCH[2]}"
    labels+=("${BASH_REMATCH[1]}")
  fi
done < <(sed -n '/^Connect with/,/^Stop with Ctrl-C/p' "$log")
for label in "the CLI" "curl (STLS)" "curl (TLS)" "Python poplib" "deliver"; do
  [ -n "${commands[$label]:-}" ] || fail "the banner prints no '$label' command"
done

# Runs a printed command as a user pasting it would (bash, at the root of the clone).
run() {
  local label="$1" command="$2" out="$work/out"
  say "$label: $command"
  if ! timeout 300 bash -c "$command" >"$out" 2>&1 </dev/null; then
    cat "$out"
    fail "'$label' failed"
  fi
  cat "$out"
}

count_listing() { grep -cE '^[[:space:]]*[0-9]+[[:space:]]+[0-9]+[[:space:]]*$' "$work/out" || true; }

run "the CLI" "${commands["the CLI"]}"
before="$(count_listing)"
[ "$before" -ge 1 ] || fail "the CLI listed no messages"

run "curl (STLS)" "${commands["curl (STLS)"]}"
grep -q "^Subject: " "$work/out" || fail "curl (STLS) did not retrieve a message"

run "curl (TLS)" "${commands["curl (TLS)"]}"
[ "$(count_listing)" -eq "$before" ] || fail "curl (TLS) listed $(count_listing) messages, the CLI $before"

run "Python poplib" "${commands["Python poplib"]}"
grep -qE "^\($before, [0-9]+\)$" "$work/out" || fail "poplib did not print ($before, size)"

for label in "${labels[@]}"; do
  case "$label" in
    "the CLI" | "curl (STLS)" | "curl (TLS)" | "Python poplib" | "deliver") ;;
    *) run "$label" "${commands[$label]}" ;;
  esac
done

run "deliver" "${commands["deliver"]}"
grep -q "/alice/Maildir/new/" "$work/out" || fail "deliver printed no Maildir path"

run "the CLI, again" "${commands["the CLI"]}"
after="$(count_listing)"
[ "$after" -eq $((before + 1)) ] || fail "the CLI lists $after messages after the delivery, expected $((before + 1))"
# The delivered message is the new last one: read it back with the same CLI command.
retr="${commands["the CLI"]/ list / retr } $after"
run "the CLI, the delivered message" "$retr"
# What the deliver command piped in: its part before the pipe, run the same way.
expected="$(bash -c "${commands["deliver"]%% | *}" | tr -d '\r')"
[ "$(tr -d '\r' <"$work/out" | tail -n "$(printf '%s\n' "$expected" | wc -l)")" = "$expected" ] ||
  fail "the CLI did not return the delivered message"

say "stopping the demo (SIGINT)"
stop_demo || fail "the demo did not stop on SIGINT"
demo_pid=""
say "passed: the README's first command and every command the demo printed work on a fresh clone"
