// PostgreSQL store benchmarks (issue 13): pop3-server on pop3-store-postgres side by side with
// pop3-server on the MaildirStore, in one run, each figure as a ratio to the Maildir row measured
// in the same run. Targets: RETR of a 50 MB message >= 0.5x the Maildir store's MB/s; sessions/s
// of the standard workload (the server bench's: USER, PASS, STAT, UIDL, LIST, RETR of every
// message, QUIT) >= 0.5x the Maildir store's. Also timed: a 128 MiB round trip (deliver, then
// RETR). Nothing is asserted.
//
// Processes: each server alone in a child (postgres-server-child.mjs, the same code for both
// stores), the load generator in another (loadgen.mjs, raw sockets), PostgreSQL the test cluster
// of scripts/postgres/postgres.sh. The mail is the server bench's (mailboxes.mjs): the same bytes
// delivered into a fresh schema and written into Maildirs. Servers are interleaved, the order
// rotating each run; medians are reported.
//
// Database: POP3_PG_URL, or the test cluster of scripts/postgres/postgres.sh if it is running;
// without either every figure says n/a (exit 0).
//
// Environment (defaults; BENCH_SMOKE=1 switches to the tiny ones in brackets): BENCH_RUNS 5,
// BENCH_CONCURRENCY "1,8,64", BENCH_SESSION_MESSAGES 100 [10], BENCH_SESSION_MESSAGE_BYTES 10000,
// BENCH_SESSION_SECONDS 4 [0.5], BENCH_SESSION_WARMUP_SECONDS 1 [0.2], BENCH_RETR_MB 50 [2],
// BENCH_PG_ROUNDTRIP_MIB 128 [4], BENCH_PG_POOL_SIZE 10, BENCH_JSON_OUT (a file),
// BENCH_SERVER_EXEC_ARGV (node flags for the server children), BENCH_PHASES.
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { makeBlock } from "./mail.mjs";
import { mailSet, writeMaildir } from "./mailboxes.mjs";
import { postgresSection } from "./postgres-report.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const SMOKE = process.env.BENCH_SMOKE === "1";
const env = (name, full, smoke = full) => {
  const value = Number(process.env[name] ?? (SMOKE ? smoke : full));
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number >= 0`);
  return value;
};
const RUNS = Math.max(1, Math.round(env("BENCH_RUNS", 5)));
const LEVELS = (process.env.BENCH_CONCURRENCY ?? "1,8,64").split(",").map(Number);
const SESSION_MESSAGES = Math.round(env("BENCH_SESSION_MESSAGES", 100, 10));
const SESSION_MESSAGE_BYTES = Math.round(env("BENCH_SESSION_MESSAGE_BYTES", 10_000));
const WINDOW_MS = env("BENCH_SESSION_SECONDS", 4, 0.5) * 1000;
const WARMUP_MS = env("BENCH_SESSION_WARMUP_SECONDS", 1, 0.2) * 1000;
const RETR_BYTES = Math.round(env("BENCH_RETR_MB", 50, 2) * 1e6);
const ROUNDTRIP_BYTES = Math.round(env("BENCH_PG_ROUNDTRIP_MIB", 128, 4) * 1024 * 1024);
const POOL_SIZE = Math.max(1, Math.round(env("BENCH_PG_POOL_SIZE", 10)));
/** A subset runs only those phases (for profiling); the others say n/a. */
const PHASES = new Set((process.env.BENCH_PHASES ?? "sessions,retr,roundtrip").split(","));
const PASSWORD = "bench-password";
const HOST = "127.0.0.1";
const MAX_LEVEL = Math.max(...LEVELS);

const result = {
  available: false,
  error: undefined,
  config: {
    runs: RUNS,
    smoke: SMOKE,
    levels: LEVELS,
    sessionMessages: SESSION_MESSAGES,
    sessionMessageBytes: SESSION_MESSAGE_BYTES,
    windowSeconds: WINDOW_MS / 1000,
    warmupSeconds: WARMUP_MS / 1000,
    retrBytes: RETR_BYTES,
    roundTripBytes: ROUNDTRIP_BYTES,
    poolSize: POOL_SIZE,
    cpus: cpus().length,
  },
  sessions: [],
  retr: [],
  roundTrip: undefined,
};

function finish() {
  if (process.env.BENCH_JSON_OUT)
    writeFileSync(process.env.BENCH_JSON_OUT, `${JSON.stringify(result, null, 2)}\n`);
  console.log(postgresSection(result));
}

/** POP3_PG_URL, or the URL of the test cluster if scripts/postgres/postgres.sh has it running. */
function databaseUrl() {
  if (process.env.POP3_PG_URL) return process.env.POP3_PG_URL;
  const script = join(root, "scripts", "postgres", "postgres.sh");
  try {
    execFileSync("bash", [script, "status"], { stdio: "ignore", timeout: 20_000 });
    const out = execFileSync("bash", [script, "env"], { encoding: "utf8" });
    return /POP3_PG_URL=(\S+)/.exec(out)?.[1];
  } catch {
    return undefined;
  }
}

const url = databaseUrl();
for (const pkg of ["pop3-core", "pop3-server", "pop3-store-postgres"]) {
  if (!existsSync(join(root, "packages", pkg, "dist", "index.js"))) {
    result.error = `packages/${pkg}/dist is missing: run \`pnpm build\` first`;
  }
}
if (url === undefined) {
  result.error ??=
    "no PostgreSQL: POP3_PG_URL is not set and the test cluster (scripts/postgres/postgres.sh) is not running";
}
if (result.error !== undefined) {
  console.error(`postgres bench: n/a (${result.error})`);
  finish();
  process.exit(0);
}

const { createPostgresStore } = await import("../packages/pop3-store-postgres/dist/index.js");

// ---- child processes: always killed; cleanup always runs ----

const children = new Set();
const killChildren = () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
};
process.once("exit", killChildren);

/** Extra node flags for the server children, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p". */
const SERVER_EXEC_ARGV = (process.env.BENCH_SERVER_EXEC_ARGV ?? "").split(" ").filter(Boolean);

function startChild(script, args = []) {
  const execArgv = script === "postgres-server-child.mjs" ? SERVER_EXEC_ARGV : [];
  const child = spawn(process.execPath, [...execArgv, join(here, script), ...args], {
    cwd: here,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start in 120 s`)), 120_000);
    child.once("message", (first) => {
      clearTimeout(timer);
      resolve({ child, first });
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited early (${code ?? signal})`));
    });
  });
}

function ask(child, job, ms = 600_000) {
  return new Promise((resolve, reject) => {
    const onExit = (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the child exited (${code ?? signal})`));
    };
    const timer = setTimeout(() => {
      child.off("exit", onExit);
      child.kill("SIGKILL");
      reject(new Error(`no answer in ${ms / 1000} s`));
    }, ms);
    child.once("exit", onExit);
    child.once("message", (answer) => {
      clearTimeout(timer);
      child.off("exit", onExit);
      if (answer.error !== undefined) reject(new Error(answer.error));
      else resolve(answer);
    });
    child.send(job);
  });
}

function stopChild(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    if (child.connected) child.disconnect();
    else child.kill("SIGTERM");
  });
}

const median = (values) => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const errorText = (error) => (error instanceof Error ? error.message : String(error));
const seconds = (since) => (performance.now() - since) / 1000;

/** Runs `work(i)` for 0..n-1, `width` at a time. */
async function inParallel(n, width, work) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      while (next < n) await work(next++);
    }),
  );
}

/** Realistic mail made on the fly: one block of whole lines (about 64 KiB) repeated. */
const roundTripBlock = makeBlock(77);
const roundTripBlocks = Math.max(1, Math.round(ROUNDTRIP_BYTES / roundTripBlock.length));
async function* generated() {
  for (let i = 0; i < roundTripBlocks; i++) yield roundTripBlock;
}

// ---- the run ----

const started = performance.now();
const schema = `bench_${randomBytes(4).toString("hex")}`;
const scratch = mkdtempSync(join(tmpdir(), "pop3-postgres-bench-"));
const benchUsers = Array.from({ length: MAX_LEVEL }, (_, i) => `bench${i + 1}`);
const sessionMail = { count: SESSION_MESSAGES, size: SESSION_MESSAGE_BYTES, seed: 1 };
const bigMail = { count: 1, size: RETR_BYTES, seed: 5000 };
let store;
let loadgen;
const servers = [];
try {
  store = await createPostgresStore({ connectionString: url, schema, poolSize: POOL_SIZE });
  result.available = true;

  // The same bytes in PostgreSQL and in the Maildirs.
  let t = performance.now();
  const sessionMessages = mailSet(sessionMail);
  const big = mailSet(bigMail)[0];
  const maildirRoot = join(scratch, "maildir");
  if (PHASES.has("sessions")) {
    await inParallel(benchUsers.length, 8, async (i) => {
      for (const message of sessionMessages) await store.deliver(benchUsers[i], message);
    });
    for (const user of benchUsers) writeMaildir(maildirRoot, user, sessionMessages);
  }
  if (PHASES.has("retr")) {
    await store.deliver("big", big);
    writeMaildir(maildirRoot, "big", [big]);
  }
  console.error(
    `postgres bench: seeded ${benchUsers.length} × ${SESSION_MESSAGES} messages and one of ${(RETR_BYTES / 1e6).toFixed(0)} MB into schema ${schema} and a Maildir in ${seconds(t).toFixed(1)} s`,
  );

  ({ child: loadgen } = await startChild("loadgen.mjs"));
  const load = (job, ms) => ask(loadgen, { host: HOST, ...job }, ms);
  const users = [...benchUsers, "big"];
  for (const [key, name, layout] of [
    ["maildir", "pop3-server, MaildirStore", { store: "maildir", root: maildirRoot }],
    [
      "postgres",
      `pop3-server, PostgresStore (poolSize ${POOL_SIZE})`,
      { store: "postgres", url, schema, poolSize: POOL_SIZE },
    ],
  ]) {
    const { child, first } = await startChild("postgres-server-child.mjs", [
      JSON.stringify({ ...layout, users, password: PASSWORD }),
    ]);
    servers.push({ key, name, child, port: first.port });
  }

  // ---- 1. sessions/s ----
  if (PHASES.has("sessions")) await sessionsPhase();
  async function sessionsPhase() {
    const userList = benchUsers.map((u) => [u, PASSWORD]);
    const sessionJob = (server, concurrency, warmupMs, durationMs) => ({
      type: "sessions",
      port: server.port,
      users: userList.slice(0, concurrency),
      concurrency,
      warmupMs,
      durationMs,
    });
    console.error(
      `postgres bench: sessions/s, ${SESSION_MESSAGES} × ${SESSION_MESSAGE_BYTES / 1000} KB per session, concurrency ${LEVELS.join(", ")}, ${RUNS} run(s) of ${WINDOW_MS / 1000} s`,
    );
    for (const server of servers) {
      try {
        await load(sessionJob(server, MAX_LEVEL, 0, Math.max(500, WARMUP_MS)));
      } catch (error) {
        server.error = `warm-up: ${errorText(error)}`;
      }
    }
    const sessionRuns = new Map(servers.map((s) => [s.key, new Map(LEVELS.map((c) => [c, []]))]));
    for (let run = 0; run < RUNS; run++) {
      for (const concurrency of LEVELS) {
        const order = servers.map((_, i) => servers[(i + run) % servers.length]);
        for (const server of order) {
          if (server.error !== undefined) continue;
          try {
            const r = await load(sessionJob(server, concurrency, WARMUP_MS, WINDOW_MS));
            sessionRuns.get(server.key).get(concurrency).push(r);
          } catch (error) {
            server.error = errorText(error);
          }
        }
      }
    }
    for (const server of servers) {
      const levels = {};
      for (const concurrency of LEVELS) {
        const runs = sessionRuns.get(server.key).get(concurrency);
        levels[concurrency] = {
          median: median(runs.map((r) => r.sessions / r.seconds)),
          runs: runs.map((r) => r.sessions / r.seconds),
          errors: runs.reduce((n, r) => n + r.errors, 0),
          firstError: runs.find((r) => r.firstError)?.firstError,
        };
      }
      result.sessions.push({ key: server.key, name: server.name, levels, error: server.error });
    }
  }

  // ---- 2. RETR of one big message ----
  if (PHASES.has("retr")) await retrPhase();
  async function retrPhase() {
    console.error(
      `postgres bench: RETR of one ${(RETR_BYTES / 1e6).toFixed(0)} MB message, ${RUNS} run(s)`,
    );
    const retrJob = (server) => ({
      type: "retr",
      port: server.port,
      user: "big",
      password: PASSWORD,
      msg: 1,
    });
    const retrRuns = new Map(servers.map((s) => [s.key, []]));
    for (const server of servers) {
      server.error = undefined;
      try {
        await load(retrJob(server)); // warm-up: page cache, shared buffers, JIT
      } catch (error) {
        server.error = errorText(error);
      }
    }
    for (let run = 0; run < RUNS; run++) {
      const order = servers.map((_, i) => servers[(i + run) % servers.length]);
      for (const server of order) {
        if (server.error !== undefined) continue;
        try {
          const r = await load(retrJob(server));
          if (r.octets !== RETR_BYTES)
            throw new Error(`received ${r.octets} octets, expected ${RETR_BYTES}`);
          retrRuns.get(server.key).push(r.octets / r.seconds / 1e6);
        } catch (error) {
          server.error = errorText(error);
        }
      }
    }
    for (const server of servers) {
      const runs = retrRuns.get(server.key);
      result.retr.push({
        key: server.key,
        name: server.name,
        median: median(runs),
        runs,
        error: server.error,
      });
    }
  }

  // ---- 3. a 128 MiB round trip: deliver, then RETR through the server ----
  if (PHASES.has("roundtrip"))
    try {
      console.error(
        `postgres bench: round trip of a ${(ROUNDTRIP_BYTES / 2 ** 20).toFixed(0)} MiB message (deliver, RETR)`,
      );
      t = performance.now();
      const { size } = await store.deliver("roundtrip", generated());
      const octets = roundTripBlocks * roundTripBlock.length;
      const deliverSeconds = seconds(t);
      // The server child knows only the users it was started with: a child of its own for this.
      const { child, first } = await startChild("postgres-server-child.mjs", [
        JSON.stringify({
          store: "postgres",
          url,
          schema,
          poolSize: POOL_SIZE,
          users: ["roundtrip"],
          password: PASSWORD,
        }),
      ]);
      try {
        const r = await load({
          type: "retr",
          port: first.port,
          user: "roundtrip",
          password: PASSWORD,
          msg: 1,
        });
        if (r.octets !== octets) throw new Error(`received ${r.octets} octets, expected ${octets}`);
        result.roundTrip = {
          bytes: octets,
          size,
          deliverSeconds,
          retrSeconds: r.seconds,
          seconds: deliverSeconds + r.seconds,
        };
      } finally {
        await stopChild(child);
      }
    } catch (error) {
      result.roundTrip = { bytes: ROUNDTRIP_BYTES, error: errorText(error) };
    }
} catch (error) {
  result.error = errorText(error);
} finally {
  for (const server of servers) await stopChild(server.child);
  if (loadgen !== undefined) await stopChild(loadgen);
  killChildren();
  if (store !== undefined) {
    // Drop the benchmark's schema: the store's own pool is closed, so one client of our own.
    await store.close().catch(() => {});
    try {
      const pg = (await import("../packages/pop3-store-postgres/node_modules/pg/lib/index.js"))
        .default;
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    } catch (error) {
      console.error(`postgres bench: could not drop schema ${schema}: ${errorText(error)}`);
    }
  }
  rmSync(scratch, { recursive: true, force: true });
}

result.seconds = seconds(started);
finish();
console.error(`postgres bench: done in ${result.seconds.toFixed(0)} s`);
process.exit(result.error === undefined ? 0 : 1);
