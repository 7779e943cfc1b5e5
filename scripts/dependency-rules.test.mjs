// Proves that the layering and cycle rules of .dependency-cruiser.cjs bite: a small monorepo in
// a temporary folder, one file per forbidden import, must fail with exactly the expected rule
// for each, and a tree of only allowed imports must pass. Run by `pnpm lint` (node --test).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("..", import.meta.url));
const config = join(repo, ".dependency-cruiser.cjs");
const depcruise = join(repo, "node_modules/dependency-cruiser/bin/dependency-cruise.mjs");
const folders = [];

after(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

/** Writes `files` ({ path: source }) into a fresh folder laid out like this repository. */
function tree(files) {
  const root = mkdtempSync(join(tmpdir(), "pop3-dependency-rules-"));
  folders.push(root);
  writeFileSync(join(root, "tsconfig.base.json"), JSON.stringify({ compilerOptions: {} }));
  // Workspace packages reachable by name, as pnpm links them: node_modules/<name> -> the folder.
  mkdirSync(join(root, "node_modules"));
  for (const name of ["pop3-core", "pop3-server", "pop3-client", "pop3-test-harness"]) {
    const folder = join(root, "packages", name);
    mkdirSync(join(folder, "src"), { recursive: true });
    writeFileSync(
      join(folder, "package.json"),
      JSON.stringify({ name, main: "src/index.ts", exports: { ".": "./src/index.ts" } }),
    );
    writeFileSync(join(folder, "src/index.ts"), "export const x = 1;\n");
    symlinkSync(folder, join(root, "node_modules", name), "dir");
  }
  for (const [path, source] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), source);
  }
  return root;
}

/** Runs dependency-cruiser with the repository's rules over `root`. */
function depcruiseIn(root, ...options) {
  const args = [depcruise, "--config", config, ...options, "packages", "apps"];
  return spawnSync(process.execPath, args, { cwd: root, encoding: "utf8" });
}

/** Lints `root` as `pnpm lint` does; returns its exit status and `rule: from -> to` lines. */
function lint(root) {
  const { status } = depcruiseIn(root);
  const json = depcruiseIn(root, "--output-type", "json");
  if (json.stdout === "") throw new Error(`dependency-cruiser printed nothing: ${json.stderr}`);
  const violations = JSON.parse(json.stdout).summary.violations.map(
    (v) => `${v.rule.name}: ${v.from} -> ${v.to}`,
  );
  return { status, violations: violations.sort() };
}

test("each forbidden import fails lint with its rule", () => {
  const root = tree({
    // A cycle inside a package, and one made of type-only imports.
    "packages/pop3-server/src/cycle-a.ts": 'import { b } from "./cycle-b";\nexport const a = b;\n',
    "packages/pop3-server/src/cycle-b.ts": 'import { a } from "./cycle-a";\nexport const b = a;\n',
    "packages/pop3-client/src/type-a.ts":
      'import type { B } from "./type-b";\nexport type A = B;\n',
    "packages/pop3-client/src/type-b.ts":
      'import type { A } from "./type-a";\nexport type B = A;\n',
    // pop3-core reaches outside itself: a Node module, a package, another layer lazily.
    "packages/pop3-core/src/uses-node.ts":
      'import { readFile } from "node:fs";\nexport { readFile };\n',
    "packages/pop3-core/src/uses-package.ts": 'export { z } from "zod";\n',
    "packages/pop3-core/src/lazy.ts": 'export const s = () => import("pop3-server");\n',
    "packages/pop3-core/test/core.test.ts": 'import "pop3-client";\n',
    // Sideways and upward.
    "packages/pop3-server/src/to-client.ts": 'import "pop3-client";\n',
    "packages/pop3-server/test/to-client.test.ts": 'import "../../pop3-client/src/index";\n',
    "packages/pop3-client/src/to-server.ts": 'import "pop3-server/metrics";\n',
    "packages/pop3-client/src/to-harness.ts": 'import "pop3-test-harness";\n',
    "packages/pop3-test-harness/src/to-postgres.ts": 'import "pop3-store-postgres";\n',
    "packages/pop3-test-harness/src/to-app.ts": 'import "../../../apps/cli/src/main";\n',
    "packages/pop3-store-postgres/src/to-client.ts": 'import "pop3-client";\n',
    "packages/pop3-store-postgres/test/to-app.test.ts": 'import "demo-server";\n',
    "apps/cli/src/main.ts": "export const main = 1;\n",
  });
  const { status, violations } = lint(root);
  assert.notEqual(status, 0, "lint must fail");
  assert.deepEqual(violations, [
    "client-not-to-server: packages/pop3-client/src/to-harness.ts -> packages/pop3-test-harness/src/index.ts",
    "client-not-to-server: packages/pop3-client/src/to-server.ts -> pop3-server/metrics",
    "core-imports-only-itself: packages/pop3-core/src/lazy.ts -> packages/pop3-server/src/index.ts",
    "core-imports-only-itself: packages/pop3-core/src/uses-node.ts -> fs",
    "core-imports-only-itself: packages/pop3-core/src/uses-package.ts -> zod",
    "core-tests-import-no-workspace-package: packages/pop3-core/test/core.test.ts -> packages/pop3-client/src/index.ts",
    "harness-not-upward: packages/pop3-test-harness/src/to-app.ts -> apps/cli/src/main.ts",
    "harness-not-upward: packages/pop3-test-harness/src/to-postgres.ts -> pop3-store-postgres",
    "no-circular: packages/pop3-client/src/type-a.ts -> packages/pop3-client/src/type-b.ts",
    "no-circular: packages/pop3-server/src/cycle-a.ts -> packages/pop3-server/src/cycle-b.ts",
    "postgres-store-source-on-server-and-core: packages/pop3-store-postgres/src/to-client.ts -> packages/pop3-client/src/index.ts",
    "postgres-store-tests-not-to-apps: packages/pop3-store-postgres/test/to-app.test.ts -> demo-server",
    "server-not-to-client: packages/pop3-server/src/to-client.ts -> packages/pop3-client/src/index.ts",
    "server-not-to-client: packages/pop3-server/test/to-client.test.ts -> packages/pop3-client/src/index.ts",
  ]);
});

test("imports that point down pass", () => {
  const root = tree({
    "packages/pop3-core/src/codec.ts": 'import { x } from "./index";\nexport const y = x;\n',
    "packages/pop3-core/test/codec.test.ts":
      'import { y } from "../src/codec";\nimport "node:fs";\nexport { y };\n',
    "packages/pop3-server/src/server.ts":
      'import "node:net";\nimport "pop3-core";\nimport "../../pop3-core/src/codec";\n',
    "packages/pop3-server/test/self.test.ts": 'import "pop3-server";\nimport "../src/server";\n',
    "packages/pop3-client/src/client.ts":
      'import "node:tls";\nimport type { x } from "pop3-core";\nexport type X = typeof x;\n',
    "packages/pop3-test-harness/src/server.ts":
      'import "pop3-server";\nimport "pop3-client";\nimport "pop3-core";\n',
    "packages/pop3-store-postgres/src/store.ts": 'import "pop3-server";\nimport "pop3-core";\n',
    "packages/pop3-store-postgres/test/store.test.ts":
      'import "pop3-test-harness";\nimport "pop3-client";\n',
    "apps/cli/src/main.ts":
      'import "pop3-test-harness";\nimport "pop3-client";\nimport "pop3-core";\n',
  });
  assert.deepEqual(lint(root), { status: 0, violations: [] });
});
