// `pnpm bench` for this package: the codec figures (pop3-core's codec.bench.mjs), the client
// bench, then the server bench, each in a process of its own and one after the other (never two
// at once: they would share the CPUs), then the report, docs/BENCHMARKS.md. Each bench prints
// its own tables as it goes; the report gathers them with the machine and the versions.
//
// Environment: everything the benches read (see their headers), plus BENCH_SMOKE=1 (tiny sizes
// everywhere; the report then goes to bench/.bench-data/BENCHMARKS.smoke.md so the committed one
// is not overwritten) and BENCH_REPORT (where to write the report instead).
// CI smoke: BENCH_RUNS=1 BENCH_SMOKE=1 pnpm bench.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, release, totalmem, type } from "node:os";
import { dirname, join, relative } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { postgresSection } from "./postgres-report.mjs";
import { fullReport, parseCodecOutput } from "./report.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const SMOKE = process.env.BENCH_SMOKE === "1";
const data = join(here, ".bench-data");
mkdirSync(data, { recursive: true });
const reportPath =
  process.env.BENCH_REPORT ??
  (SMOKE ? join(data, "BENCHMARKS.smoke.md") : join(root, "docs", "BENCHMARKS.md"));

const childEnv = { ...process.env };
if (SMOKE) {
  childEnv.BENCH_CODEC_BYTES ??= "200000";
  childEnv.BENCH_TIME_MS ??= "50";
}

/** Runs `node script` with stdout shown as it comes (and kept when `capture`); never rejects. */
function runNode(script, env, capture = false) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script], {
      cwd: dirname(script),
      env,
      stdio: ["ignore", capture ? "pipe" : "inherit", "inherit"],
    });
    let out = "";
    child.stdout?.on("data", (d) => {
      out += d;
      process.stdout.write(d);
    });
    const stop = () => child.kill("SIGTERM");
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    child.once("error", (error) => resolve({ code: -1, out, error: error.message }));
    child.once("exit", (code, signal) => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve({ code: code ?? signal, out });
    });
  });
}

const readJson = (file) => JSON.parse(readFileSync(file, "utf8"));
const started = performance.now();
let failed = 0;

// 1. codec
let codec;
{
  const r = await runNode(
    join(root, "packages", "pop3-core", "bench", "codec.bench.mjs"),
    childEnv,
    true,
  );
  try {
    if (r.code !== 0) throw new Error(`codec.bench.mjs exited with ${r.code}`);
    codec = parseCodecOutput(r.out);
  } catch (error) {
    failed += 1;
    codec = { error: error.message };
  }
}

// 2. client, 3. server, 4. the PostgreSQL store (postgres.bench.mjs; n/a without a database):
// each writes its results as JSON for the report.
const results = {};
for (const name of ["client", "server", "postgres"]) {
  const file = join(data, `${name}.json`);
  rmSync(file, { force: true });
  const r = await runNode(join(here, `${name}.bench.mjs`), { ...childEnv, BENCH_JSON_OUT: file });
  try {
    results[name] = readJson(file);
    if (r.code !== 0) throw new Error(`${name}.bench.mjs exited with ${r.code}`);
  } catch (error) {
    failed += 1;
    results[name] ??= { error: error.message };
  }
}

// Cold import cost of the packages (import-cost.mjs): fresh Node processes, one at a time.
{
  const file = join(data, "import-cost.json");
  rmSync(file, { force: true });
  const r = await runNode(join(here, "import-cost.mjs"), { ...childEnv, BENCH_JSON_OUT: file });
  try {
    if (r.code !== 0) throw new Error(`import-cost.mjs exited with ${r.code}`);
    results.importCost = readJson(file);
  } catch (error) {
    failed += 1;
    results.importCost = { error: error.message };
  }
}

// 4. the report
const git = (...args) => {
  try {
    return execFileSync("git", args, { cwd: root, encoding: "utf8" }).trim();
  } catch {
    return "";
  }
};
const version = (pkg) => readJson(join(root, "packages", pkg, "package.json")).version;
const head = git("rev-parse", "--short", "HEAD");
const dirty = git("status", "--porcelain", "--untracked-files=no") !== "";
const knobs = Object.entries(process.env)
  .filter(([k]) => k.startsWith("BENCH_") && k !== "BENCH_JSON_OUT" && k !== "BENCH_REPORT")
  .map(([k, v]) => `${k}=${v}`)
  .sort();
const machine = {
  date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
  cpu: cpus()[0]?.model.trim() ?? "unknown",
  cores: cpus().length,
  memory: totalmem(),
  kernel: `${type()} ${release()}`,
  node: process.version,
  packages: ["pop3-core", "pop3-server", "pop3-client"].map((p) => `${p} ${version(p)}`).join(", "),
  commit: head === "" ? "unknown" : `${head}${dirty ? " with uncommitted changes" : ""}`,
};
const server = results.server?.error ? undefined : results.server;
const report = fullReport({
  machine,
  server,
  client: results.client,
  codec,
  importCost: results.importCost,
  commands: `\`${[...knobs, "pnpm bench"].join(" ")}\`, ${((performance.now() - started) / 1000).toFixed(0)} s`,
});
mkdirSync(dirname(reportPath), { recursive: true });
// The PostgreSQL store's section (its own targets table) after the others.
writeFileSync(reportPath, `${report}\n${postgresSection(results.postgres)}\n`);
console.log(
  `\nReport written to ${relative(process.cwd(), reportPath)}${failed > 0 ? ` (${failed} bench(es) failed)` : ""}`,
);
process.exit(failed > 0 ? 1 : 0);
