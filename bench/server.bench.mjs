// Server benchmarks: pop3-server (MemoryStore and MaildirStore) side by side with Dovecot, in
// one run, every figure as a ratio against its peer measured in the same run. (Issue targets:
// sessions/s >= 1.5x Dovecot at concurrency 64 and >= 1.0x at 1; RETR >= 1.0x Dovecot and
// >= 0.5x the plain-socket ceiling; <= 20 KB per idle session.)
//
// Processes: our server runs alone in a child (pop3-server-child.mjs: one Node process), the load
// generator in another (loadgen.mjs: raw sockets, pop3-core's framing), Dovecot is a private
// instance of scripts/dovecot/dovecot.sh (dovecot.mjs), the RETR ceiling a plain socket server
// (ceiling-child.mjs). Every server gets the same bytes (mailboxes.mjs, from mail.mjs).
//   1. sessions/s: full sessions (USER, PASS, STAT, UIDL, LIST, RETR of every message, QUIT; no
//      DELE, so the mailboxes never change) back to back on `concurrency` connections; each
//      worker logs in as a user of its own (bench1..benchN, the same mail on every server), so
//      our maildrop lock never answers [IN-USE]. Sessions ending in a window after a warm-up are
//      counted. Servers are interleaved, the order rotating each run; medians are reported.
//   2. RETR throughput: one big message, RETR timed from the command to the terminator.
//   3. memory: BENCH_IDLE_SESSIONS sessions logged in and idle against a fresh server child
//      (users idle1..idleN with one small message each); RSS, PSS and heap growth over the
//      baseline after gc(), divided by the sessions. Dovecot: the PSS of its whole process tree
//      before and after BENCH_DOVECOT_IDLE_SESSIONS sessions (a process per session).
// Timings are printed (and written as JSON to BENCH_JSON_OUT), never asserted.
//
// Environment (defaults; BENCH_SMOKE=1 switches to the tiny ones in brackets):
//   BENCH_RUNS 5, BENCH_CONCURRENCY "1,8,64", BENCH_SESSION_MESSAGES 100 [10],
//   BENCH_SESSION_MESSAGE_BYTES 10000, BENCH_SESSION_SECONDS 4 [0.5] (the counted window),
//   BENCH_SESSION_WARMUP_SECONDS 1 [0.2], BENCH_RETR_MB 50 [2], BENCH_IDLE_SESSIONS 10000 [200],
//   BENCH_DOVECOT_IDLE_SESSIONS 200 [20], BENCH_DOVECOT 1 (0: leave Dovecot out),
//   BENCH_DOVECOT_RUNTIME /tmp/pop3-bench-dovecot, BENCH_DOVECOT_PORT 11140 (and +1 for POP3S),
//   BENCH_DOVECOT_KEEP 0 (1: leave the private instance running), BENCH_JSON_OUT (a file),
//   BENCH_SERVER_EXEC_ARGV (extra node flags for our server, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p"),
//   BENCH_LOADGEN_EXEC_ARGV (the same for the load generator),
//   BENCH_MAILDIR_VARIANTS "UV_THREADPOOL_SIZE=1" (";"-separated environments of extra
//   MaildirStore rows in the sessions/s table, for comparison only; "" for none),
//   BENCH_PHASES "sessions,retr,memory" (a subset runs only those; for profiling).
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { machineCpu, startDovecot } from "./dovecot.mjs";
import { mailSet, writeMaildir } from "./mailboxes.mjs";
import { serverSections } from "./report.mjs";

const here = dirname(fileURLToPath(import.meta.url));
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
const IDLE_WANTED = Math.round(env("BENCH_IDLE_SESSIONS", 10_000, 200));
const DOVECOT_IDLE = Math.round(env("BENCH_DOVECOT_IDLE_SESSIONS", 200, 20));
const USE_DOVECOT = process.env.BENCH_DOVECOT !== "0";
const DOVECOT_RUNTIME = process.env.BENCH_DOVECOT_RUNTIME ?? "/tmp/pop3-bench-dovecot";
const DOVECOT_PORT = Math.round(env("BENCH_DOVECOT_PORT", 11140));
/** Extra MaildirStore rows under other libuv settings ("A=1 B=2;C=3"), not the default setup. */
const VARIANTS = (process.env.BENCH_MAILDIR_VARIANTS ?? "UV_THREADPOOL_SIZE=1")
  .split(";")
  .map((v) => v.trim())
  .filter(Boolean);
const PHASES = new Set((process.env.BENCH_PHASES ?? "sessions,retr,memory").split(","));
const SERVER_EXEC_ARGV = (process.env.BENCH_SERVER_EXEC_ARGV ?? "").split(" ").filter(Boolean);
const HOST = "127.0.0.1";
const PASSWORD = "bench-password";
const MAX_LEVEL = Math.max(...LEVELS);

for (const pkg of ["pop3-core", "pop3-server"]) {
  if (!existsSync(join(here, "..", "packages", pkg, "dist", "index.js"))) {
    console.error(`packages/${pkg}/dist is missing: run \`pnpm build\` first`);
    process.exit(1);
  }
}

// ---- child processes: always killed; cleanup always runs ----

const children = new Set();
const cleanups = [];
function killChildren() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}
process.once("exit", killChildren);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(signal, async () => {
    killChildren();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
    process.exit(130);
  });
}

/** The file-descriptor limit a child can get: `ulimit -n` raised as far as allowed. */
function fdLimit(want) {
  try {
    const out = execFileSync(
      "sh",
      ["-c", `ulimit -n ${want} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; ulimit -n`],
      { encoding: "utf8" },
    );
    const n = out.trim() === "unlimited" ? want : Number(out.trim());
    return Number.isFinite(n) ? n : 1024;
  } catch {
    return 1024;
  }
}

/**
 * Starts `script` in its own Node process with an IPC channel, through `sh` so that `ulimit -n`
 * can be raised first (10,000 sockets need more than the usual 1024 descriptors). Resolves with
 * the child and its first message once it sends one.
 */
function startChild(script, args = [], { execArgv = [], fds = 0, env } = {}) {
  const node = [...execArgv, join(here, script), ...args];
  const [command, argv] =
    fds > 0
      ? [
          "sh",
          [
            "-c",
            'ulimit -n "$0" 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"',
            String(fds),
            process.execPath,
            ...node,
          ],
        ]
      : [process.execPath, node];
  const child = spawn(command, argv, {
    cwd: here,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    env: { ...process.env, ...env },
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start in 300 s`)), 300_000);
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

/** Sends one job to a child and resolves with its answer; the child is killed on timeout. */
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

/** Our server in a child: { port, memory(), stop() }. */
async function startOurs(layout, fds = 0, env = {}) {
  const { child, first } = await startChild("pop3-server-child.mjs", [JSON.stringify(layout)], {
    execArgv: ["--expose-gc", ...SERVER_EXEC_ARGV],
    fds,
    env,
  });
  return {
    port: first.port,
    memory: () => ask(child, { type: "memory" }),
    cpuSeconds: async () => (await ask(child, { type: "cpu" })).seconds,
    stop: () => stopChild(child),
  };
}

const median = (values) => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const errorText = (error) => (error instanceof Error ? error.message : String(error));
const names = (prefix, count) => Array.from({ length: count }, (_, i) => `${prefix}${i + 1}`);

// ---- the mail: the same bytes for every server ----

const sessionMail = { count: SESSION_MESSAGES, size: SESSION_MESSAGE_BYTES, seed: 1 };
const bigMail = { count: 1, size: RETR_BYTES, seed: 5000 };
const idleMail = { count: 1, size: 1000, seed: 9000 };
const benchUsers = names("bench", MAX_LEVEL);
const dovecotIdleUsers = names("idle", DOVECOT_IDLE);

const result = {
  config: {
    runs: RUNS,
    smoke: SMOKE,
    cpus: cpus().length,
    levels: LEVELS,
    sessionMessages: SESSION_MESSAGES,
    sessionMessageBytes: SESSION_MESSAGE_BYTES,
    windowSeconds: WINDOW_MS / 1000,
    warmupSeconds: WARMUP_MS / 1000,
    retrBytes: RETR_BYTES,
    idleWanted: IDLE_WANTED,
    dovecotIdle: DOVECOT_IDLE,
  },
  dovecot: { available: false, error: "BENCH_DOVECOT=0", version: undefined },
  sessions: [],
  retr: [],
  memory: {},
  notes: [],
};

const started = performance.now();
const scratch = mkdtempSync(join(tmpdir(), "pop3-server-bench-"));
cleanups.push(async () => rmSync(scratch, { recursive: true, force: true }));
const fds = fdLimit(IDLE_WANTED + 1000);
const IDLE = Math.min(IDLE_WANTED, Math.max(0, fds - 500));
result.config.idle = IDLE;
if (IDLE < IDLE_WANTED) {
  result.notes.push(
    `Only ${IDLE} idle sessions instead of ${IDLE_WANTED}: the file-descriptor limit here is ${fds}.`,
  );
}

const LOADGEN_EXEC_ARGV = (process.env.BENCH_LOADGEN_EXEC_ARGV ?? "").split(" ").filter(Boolean);
const { child: loadgen } = await startChild("loadgen.mjs", [], {
  fds: IDLE + 1000,
  execArgv: LOADGEN_EXEC_ARGV,
});
const load = (job, ms) => ask(loadgen, { host: HOST, ...job }, ms);

let dovecot;
try {
  // ---- Dovecot: a private instance with the benchmark users ----
  if (USE_DOVECOT) {
    const users = [...benchUsers, ...dovecotIdleUsers, "big"].map((u) => [u, PASSWORD]);
    const t = performance.now();
    dovecot = await startDovecot({
      runtime: DOVECOT_RUNTIME,
      port: DOVECOT_PORT,
      tlsPort: DOVECOT_PORT + 1,
      users,
    });
    if (dovecot.error !== undefined) {
      result.dovecot = { available: false, error: dovecot.error };
      console.error(
        `server bench: Dovecot is not available (${dovecot.error}); its columns say n/a`,
      );
      dovecot = undefined;
    } else {
      if (process.env.BENCH_DOVECOT_KEEP !== "1") cleanups.push(() => dovecot.stop());
      try {
        await dovecot.seed([
          { names: benchUsers, mail: [sessionMail] },
          { names: dovecotIdleUsers, mail: [idleMail] },
        ]);
        await dovecot.resetMail("big");
        await dovecot.deliver("big", mailSet(bigMail)[0]);
        result.dovecot = { available: true, version: dovecot.version, port: DOVECOT_PORT };
        console.error(
          `server bench: Dovecot ${dovecot.version} on ${HOST}:${DOVECOT_PORT} (private instance in ${DOVECOT_RUNTIME}), seeded in ${((performance.now() - t) / 1000).toFixed(1)} s`,
        );
      } catch (error) {
        result.dovecot = { available: false, error: errorText(error) };
        dovecot = undefined;
      }
    }
  }

  const maildirRoot = join(scratch, "maildir");
  const sessionMessages = mailSet(sessionMail);
  for (const user of benchUsers) writeMaildir(maildirRoot, user, sessionMessages);
  writeMaildir(maildirRoot, "big", mailSet(bigMail));

  // ---- 1. sessions/s ----
  if (PHASES.has("sessions")) {
    const benchGroup = { names: benchUsers, password: PASSWORD, mail: [sessionMail] };
    const servers = [
      {
        key: "memory",
        name: "pop3-server, MemoryStore",
        ours: await startOurs({ store: "memory", users: [benchGroup] }),
      },
      {
        key: "maildir",
        name: "pop3-server, MaildirStore",
        ours: await startOurs({ store: "maildir", root: maildirRoot, users: [benchGroup] }),
      },
    ];
    for (const [i, variant] of VARIANTS.entries()) {
      // A Maildir of its own, so that no lock file is ever shared with the default row.
      const root = join(scratch, `maildir-variant-${i}`);
      for (const user of benchUsers) writeMaildir(root, user, sessionMessages);
      const env = Object.fromEntries(variant.split(/\s+/).map((kv) => kv.split("=")));
      servers.push({
        key: `maildir-variant-${i}`,
        name: `pop3-server, MaildirStore, ${variant} (not the default setup)`,
        variant: true,
        ours: await startOurs({ store: "maildir", root, users: [benchGroup] }, 0, env),
      });
    }
    for (const s of servers) {
      s.port = s.ours.port;
      s.cpuSeconds = s.ours.cpuSeconds;
    }
    if (dovecot !== undefined)
      servers.push({
        key: "dovecot",
        name: `Dovecot ${dovecot.version.split(" ")[0]}`,
        port: DOVECOT_PORT,
        cpuSeconds: async () => dovecot.cpuSeconds(),
      });

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
      `server bench: sessions/s, ${SESSION_MESSAGES} × ${SESSION_MESSAGE_BYTES / 1000} KB per session, concurrency ${LEVELS.join(", ")}, ${RUNS} run(s) of ${WINDOW_MS / 1000} s`,
    );
    // Warm-up: every user's first session (Maildir: new/ to cur/, sizes cached; Dovecot: indexes
    // built, \Seen flags set) and the JIT, not counted.
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
            // CPU over the whole job (warm-up, window, tail), in cores: the server's (ours: its
            // process; Dovecot: its process tree), the load generator's, the whole machine's.
            const machine = machineCpu();
            const serverCpu = await server.cpuSeconds();
            const t = performance.now();
            const r = await load(sessionJob(server, concurrency, WARMUP_MS, WINDOW_MS));
            const wall = (performance.now() - t) / 1000;
            r.serverCores = ((await server.cpuSeconds()) - serverCpu) / wall;
            r.loadgenCores = r.cpuSeconds / wall;
            r.machineCores = (machineCpu().busy - machine.busy) / wall;
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
          latencyMs: median(runs.map((r) => r.latencyMs.median)),
          serverCores: median(runs.map((r) => r.serverCores)),
          loadgenCores: median(runs.map((r) => r.loadgenCores)),
          machineCores: median(runs.map((r) => r.machineCores)),
        };
      }
      result.sessions.push({
        key: server.key,
        name: server.name,
        variant: server.variant ?? false,
        levels,
        error: server.error,
      });
    }
    if (dovecot === undefined)
      result.sessions.push({
        key: "dovecot",
        name: "Dovecot",
        levels: {},
        error: result.dovecot.error,
      });
    for (const s of servers) await s.ours?.stop();
  }

  // ---- 2. RETR throughput of one big message ----
  if (PHASES.has("retr")) {
    console.error(
      `server bench: RETR of one ${(RETR_BYTES / 1e6).toFixed(0)} MB message, ${RUNS} run(s)`,
    );
    const bigGroup = { names: ["big"], password: PASSWORD, mail: [bigMail] };
    const ceiling = await startChild("ceiling-child.mjs", [JSON.stringify(bigMail)]);
    const retrServers = [
      {
        key: "memory",
        name: "pop3-server, MemoryStore",
        ours: await startOurs({ store: "memory", users: [bigGroup] }),
      },
      {
        key: "maildir",
        name: "pop3-server, MaildirStore",
        ours: await startOurs({ store: "maildir", root: maildirRoot, users: [bigGroup] }),
      },
      ...(dovecot === undefined
        ? []
        : [
            {
              key: "dovecot",
              name: `Dovecot ${dovecot.version.split(" ")[0]}`,
              port: DOVECOT_PORT,
            },
          ]),
      { key: "ceiling", name: "plain Node socket server (ceiling)", port: ceiling.first.port },
    ];
    for (const s of retrServers) s.port ??= s.ours.port;
    const retrRuns = new Map(retrServers.map((s) => [s.key, []]));
    const retrJob = (server) => ({
      type: "retr",
      port: server.port,
      user: "big",
      password: PASSWORD,
      msg: 1,
    });
    for (const server of retrServers) {
      try {
        await load(retrJob(server)); // warm-up: page cache, JIT, Dovecot's index
      } catch (error) {
        server.error = errorText(error);
      }
    }
    for (let run = 0; run < RUNS; run++) {
      const order = retrServers.map((_, i) => retrServers[(i + run) % retrServers.length]);
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
    for (const server of retrServers) {
      const runs = retrRuns.get(server.key);
      result.retr.push({
        key: server.key,
        name: server.name,
        median: median(runs),
        runs,
        error: server.error,
      });
    }
    if (dovecot === undefined)
      result.retr.push({
        key: "dovecot",
        name: "Dovecot",
        median: Number.NaN,
        runs: [],
        error: result.dovecot.error,
      });
    for (const s of retrServers) await s.ours?.stop();
    await stopChild(ceiling.child);
  }

  // ---- 3. memory per idle session ----
  if (PHASES.has("memory")) {
    console.error(
      `server bench: memory of ${IDLE} idle sessions (ours), ${DOVECOT_IDLE} (Dovecot)`,
    );
    const idleUsers = names("idle", IDLE);
    const ours = await startOurs(
      { store: "memory", users: [{ names: idleUsers, password: PASSWORD, mail: [idleMail] }] },
      IDLE + 1000,
    );
    try {
      // One session first, so that code paths, JIT and pools any server has once it has served a
      // client are in the baseline and not divided among the idle sessions.
      await load({
        type: "idle",
        port: ours.port,
        users: [[idleUsers[0], PASSWORD]],
        count: 1,
        parallel: 1,
      });
      await load({ type: "close" });
      await new Promise((resolve) => setTimeout(resolve, 500));
      const before = await ours.memory();
      const opened = await load(
        {
          type: "idle",
          port: ours.port,
          users: idleUsers.map((u) => [u, PASSWORD]),
          count: IDLE,
          parallel: 100,
          // Four source addresses, so ephemeral ports never run short.
          localAddresses: ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"],
        },
        900_000,
      );
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const after = await ours.memory();
      await load({ type: "close" });
      const n = after.stats.activeConnections - before.stats.activeConnections;
      result.memory.ours = {
        sessions: n,
        loggedIn: after.stats.sessions - before.stats.sessions,
        openSeconds: opened.seconds,
        errors: opened.errors,
        firstError: opened.firstError,
        rssPerSession: (after.rss - before.rss) / n,
        pssPerSession: (after.pss - before.pss) / n,
        heapPerSession: (after.heapUsed - before.heapUsed) / n,
        externalPerSession: (after.external - before.external) / n,
        before,
        after,
      };
    } catch (error) {
      result.memory.ours = { error: errorText(error) };
    } finally {
      await ours.stop();
    }
    if (dovecot !== undefined) {
      try {
        const before = dovecot.memory();
        const opened = await load({
          type: "idle",
          port: DOVECOT_PORT,
          users: dovecotIdleUsers.map((u) => [u, PASSWORD]),
          count: DOVECOT_IDLE,
          parallel: 20,
        });
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const after = dovecot.memory();
        await load({ type: "close" });
        const n = opened.open;
        result.memory.dovecot = {
          sessions: n,
          errors: opened.errors,
          firstError: opened.firstError,
          pssPerSession: (after.pss - before.pss) / n,
          rssPerSession: (after.rss - before.rss) / n,
          processes: { before: before.processes, after: after.processes, byName: after.byName },
        };
      } catch (error) {
        result.memory.dovecot = { error: errorText(error) };
      }
    } else {
      result.memory.dovecot = { error: result.dovecot.error };
    }
  }
} finally {
  await stopChild(loadgen);
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  killChildren();
}

result.seconds = (performance.now() - started) / 1000;
if (process.env.BENCH_JSON_OUT)
  writeFileSync(process.env.BENCH_JSON_OUT, `${JSON.stringify(result, null, 2)}\n`);
console.log(serverSections(result));
console.error(`server bench: done in ${result.seconds.toFixed(0)} s`);
