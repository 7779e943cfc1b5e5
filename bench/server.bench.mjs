// Server benchmarks: pop3-server side by side with Dovecot in both of its process models, in one
// run, every figure as a ratio against its peer measured in the same run. Targets (issue 12),
// against Dovecot's high-performance mode: MaildirStore sessions/s >= 1.3x at c=1 and >= 1.5x at
// c=64 with no more processes than Dovecot; the delete workload >= 1.2x; implicit TLS at c=8
// >= 1.2x; workers=2 >= 1.6x one process; RETR of 50 MB from Maildir >= 0.5x the socket ceiling.
//
// Processes: our server in a child of its own (pop3-server-child.mjs: one process, or
// serveInWorkers' primary and N workers), the load generator in another (loadgen.mjs: raw
// sockets, pop3-core's framing, one address: 127.0.0.1), Dovecot as two private instances of
// scripts/dovecot/dovecot.sh (dovecot.mjs): high-performance mode and stock, the RETR ceiling a
// plain socket server (ceiling-child.mjs). Every server gets the same bytes (mailboxes.mjs).
// Phases (BENCH_PHASES, all by default):
//   sessions  full sessions (USER, PASS, STAT, UIDL, LIST, RETR of every message, QUIT) back to
//             back on `concurrency` connections, worker i as user bench<i>; load generator
//             workers start staggered over half the warm-up, and a session counts for the part
//             of it inside the window (no quantisation). MemoryStore, MaildirStore in 1, 2 and 4
//             processes (2 and 4 at c > 1 only), Dovecot high-performance and stock. Servers
//             interleaved, the order rotating each run; medians and the spread reported.
//   delete    the same session plus DELE of every second message, then QUIT (UPDATE: unlink +
//             fsync); every user's mailbox is topped up again (new mail into new/) before each
//             batch, and each user has one session per batch (users del<i>).
//   tls       the sessions workload over implicit TLS at c=8 (Dovecot: its own TLS on its
//             pop3s port; both servers use the same kind of certificate, RSA 2048).
//   retr      one 50 MB message, RETR timed from the command to the terminator.
//   memory    idle logged-in sessions, plain and implicit TLS, ours against Dovecot (HP).
//   syscalls  syscalls (strace) and CPU per session, one session at a time (syscalls.mjs).
// Timings are printed (and written as JSON to BENCH_JSON_OUT), never asserted.
//
// Environment (defaults; BENCH_SMOKE=1 switches to the tiny ones in brackets):
//   BENCH_SESSION_RUNS 3 [1] (runs of the sessions, delete and tls phases), BENCH_RUNS 5 [1]
//   (RETR), BENCH_CONCURRENCY "1,8,64" ["1,8"], BENCH_WORKERS "1,2,4" ["1,2"],
//   BENCH_SESSION_MESSAGES 100 [10], BENCH_SESSION_MESSAGE_BYTES 10000,
//   BENCH_SESSION_SECONDS 5 [0.5] (the window), BENCH_SESSION_WARMUP_SECONDS 1 [0.2],
//   BENCH_DELETE_USERS 120 [8], BENCH_DELETE_MESSAGES 20 [4], BENCH_DELETE_CONCURRENCY "1,8",
//   BENCH_TLS_CONCURRENCY 8, BENCH_RETR_MB 50 [2], BENCH_IDLE_SESSIONS 10000 [200],
//   BENCH_IDLE_TLS_SESSIONS 2000 [50], BENCH_DOVECOT_IDLE_SESSIONS 200 [20],
//   BENCH_SYSCALL_SESSIONS 10 [2], BENCH_CPU_SESSIONS 100 [10], BENCH_DOVECOT 1 (0: leave
//   Dovecot out), BENCH_DOVECOT_PORT 11140 (stock; +1 POP3S; high-performance +2 and +3),
//   BENCH_DOVECOT_RUNTIME /tmp/pop3-bench-dovecot (high-performance: the same with "-hp"),
//   BENCH_DOVECOT_KEEP 0, BENCH_JSON_OUT, BENCH_SERVER_EXEC_ARGV, BENCH_LOADGEN_EXEC_ARGV,
//   BENCH_PHASES "sessions,delete,tls,retr,memory,syscalls".
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import {
  ask,
  fdLimit,
  killChildren,
  onCleanup,
  runCleanups,
  startChild,
  stopChild,
} from "./children.mjs";
import { machineCpu, startDovecot } from "./dovecot.mjs";
import { mailSet, refillMaildir, writeMaildir } from "./mailboxes.mjs";
import { serverSections } from "./report.mjs";
import { profileSessions } from "./syscalls.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const SMOKE = process.env.BENCH_SMOKE === "1";
const env = (name, full, smoke = full) => {
  const value = Number(process.env[name] ?? (SMOKE ? smoke : full));
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number >= 0`);
  return value;
};
const list = (name, full, smoke = full) =>
  (process.env[name] ?? (SMOKE ? smoke : full)).split(",").map(Number);
const RUNS = Math.max(1, Math.round(env("BENCH_RUNS", 5, 1)));
const SESSION_RUNS = Math.max(1, Math.round(env("BENCH_SESSION_RUNS", 3, 1)));
const LEVELS = list("BENCH_CONCURRENCY", "1,8,64", "1,8");
const WORKERS = list("BENCH_WORKERS", "1,2,4", "1,2");
const SESSION_MESSAGES = Math.round(env("BENCH_SESSION_MESSAGES", 100, 10));
const SESSION_MESSAGE_BYTES = Math.round(env("BENCH_SESSION_MESSAGE_BYTES", 10_000));
const WINDOW_MS = env("BENCH_SESSION_SECONDS", 5, 0.5) * 1000;
const WARMUP_MS = env("BENCH_SESSION_WARMUP_SECONDS", 1, 0.2) * 1000;
const DELETE_USERS = Math.round(env("BENCH_DELETE_USERS", 120, 8));
const DELETE_MESSAGES = Math.round(env("BENCH_DELETE_MESSAGES", 20, 4));
const DELETE_LEVELS = list("BENCH_DELETE_CONCURRENCY", "1,8");
const TLS_LEVEL = Math.round(env("BENCH_TLS_CONCURRENCY", 8));
const RETR_BYTES = Math.round(env("BENCH_RETR_MB", 50, 2) * 1e6);
const IDLE_WANTED = Math.round(env("BENCH_IDLE_SESSIONS", 10_000, 200));
const IDLE_TLS = Math.round(env("BENCH_IDLE_TLS_SESSIONS", 2000, 50));
const DOVECOT_IDLE = Math.round(env("BENCH_DOVECOT_IDLE_SESSIONS", 200, 20));
const SYSCALL_SESSIONS = Math.max(1, Math.round(env("BENCH_SYSCALL_SESSIONS", 10, 2)));
const CPU_SESSIONS = Math.max(1, Math.round(env("BENCH_CPU_SESSIONS", 100, 10)));
const USE_DOVECOT = process.env.BENCH_DOVECOT !== "0";
const DOVECOT_RUNTIME = process.env.BENCH_DOVECOT_RUNTIME ?? "/tmp/pop3-bench-dovecot";
const DOVECOT_PORT = Math.round(env("BENCH_DOVECOT_PORT", 11140));
const PHASES = new Set(
  (process.env.BENCH_PHASES ?? "sessions,delete,tls,retr,memory,syscalls").split(","),
);
const SERVER_EXEC_ARGV = (process.env.BENCH_SERVER_EXEC_ARGV ?? "").split(" ").filter(Boolean);
const LOADGEN_EXEC_ARGV = (process.env.BENCH_LOADGEN_EXEC_ARGV ?? "").split(" ").filter(Boolean);
const HOST = "127.0.0.1";
const PASSWORD = "bench-password";
const MAX_LEVEL = Math.max(...LEVELS);

for (const pkg of ["pop3-core", "pop3-server"]) {
  if (!existsSync(join(here, "..", "packages", pkg, "dist", "index.js"))) {
    console.error(`packages/${pkg}/dist is missing: run \`pnpm build\` first`);
    process.exit(1);
  }
}

const median = (values) => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const errorText = (error) => (error instanceof Error ? error.message : String(error));
const names = (prefix, count) => Array.from({ length: count }, (_, i) => `${prefix}${i + 1}`);
const log = (text) => console.error(`server bench: ${text}`);

// ---- the mail: the same bytes for every server ----

const sessionMail = { count: SESSION_MESSAGES, size: SESSION_MESSAGE_BYTES, seed: 1 };
const deleteMail = { count: DELETE_MESSAGES, size: SESSION_MESSAGE_BYTES, seed: 20_000 };
const bigMail = { count: 1, size: RETR_BYTES, seed: 5000 };
const idleMail = { count: 1, size: 1000, seed: 9000 };
const benchUsers = names("bench", MAX_LEVEL);
const deleteUsers = names("del", DELETE_USERS);
const dovecotIdleUsers = names("idle", DOVECOT_IDLE);

const result = {
  config: {
    runs: RUNS,
    sessionRuns: SESSION_RUNS,
    smoke: SMOKE,
    cpus: cpus().length,
    levels: LEVELS,
    workers: WORKERS,
    sessionMessages: SESSION_MESSAGES,
    sessionMessageBytes: SESSION_MESSAGE_BYTES,
    windowSeconds: WINDOW_MS / 1000,
    warmupSeconds: WARMUP_MS / 1000,
    deleteUsers: DELETE_USERS,
    deleteMessages: DELETE_MESSAGES,
    deleteLevels: DELETE_LEVELS,
    tlsLevel: TLS_LEVEL,
    retrBytes: RETR_BYTES,
    idleWanted: IDLE_WANTED,
    idleTls: IDLE_TLS,
    dovecotIdle: DOVECOT_IDLE,
    limits:
      "maxConnections, maxConnectionsPerAddress and maxPreLoginConnectionsPerAddress 100,000 (the load generator connects from one address), failedLoginDelayMs 0",
  },
  dovecot: {},
  sessions: [],
  deletes: [],
  tls: [],
  retr: [],
  memory: {},
  syscalls: undefined,
  notes: [],
};

const started = performance.now();
const scratch = mkdtempSync(join(tmpdir(), "pop3-server-bench-"));
onCleanup(async () => rmSync(scratch, { recursive: true, force: true }));
const fds = fdLimit(IDLE_WANTED + 1000);
const IDLE = Math.min(IDLE_WANTED, Math.max(0, fds - 500));
result.config.idle = IDLE;
if (IDLE < IDLE_WANTED) {
  result.notes.push(
    `Only ${IDLE} idle sessions instead of ${IDLE_WANTED}: the file-descriptor limit here is ${fds}.`,
  );
}

const { child: loadgen } = await startChild("loadgen.mjs", [], {
  fds: IDLE + 1000,
  execArgv: LOADGEN_EXEC_ARGV,
});
const load = (job, ms) => ask(loadgen, { host: HOST, ...job }, ms);

/** Our server in a child: { port, tlsPort, pid, cpuSeconds(), memory(), stop() }. */
async function startOurs(layout, { fds: limit = 0 } = {}) {
  const { child, first } = await startChild("pop3-server-child.mjs", [JSON.stringify(layout)], {
    execArgv: ["--expose-gc", ...SERVER_EXEC_ARGV],
    fds: limit,
  });
  return {
    port: first.port,
    tlsPort: first.tlsPort,
    pid: child.pid,
    memory: () => ask(child, { type: "memory" }),
    cpuSeconds: async () => (await ask(child, { type: "cpu" })).seconds,
    stop: () => stopChild(child),
  };
}

/** An RSA 2048 self-signed certificate, the kind dovecot.sh makes for Dovecot. */
function makeCertificate() {
  const cert = join(scratch, "server.crt");
  const key = join(scratch, "server.key");
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2"]
      .concat(["-keyout", key, "-out", cert, "-subj", "/CN=localhost"])
      .concat(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]),
    { stdio: "ignore" },
  );
  return { cert, key };
}

/**
 * Runs `job(server)` for every server, `runs` times, the order rotating each run, and measures
 * the CPU of the server (ours: its processes; Dovecot: its process tree), of the load generator
 * and of the whole machine over each job. A server whose job fails is left out from then on.
 */
async function interleaved(servers, runs, job, onRun, prepare = async () => {}) {
  for (let run = 0; run < runs; run++) {
    const order = servers.map((_, i) => servers[(i + run) % servers.length]);
    for (const server of order) {
      if (server.error !== undefined) continue;
      try {
        await prepare(server); // not measured
        const machine = machineCpu();
        const serverCpu = await server.cpuSeconds();
        const t = performance.now();
        const r = await job(server);
        const wall = (performance.now() - t) / 1000;
        r.serverCores = ((await server.cpuSeconds()) - serverCpu) / wall;
        r.loadgenCores = r.cpuSeconds / wall;
        r.machineCores = (machineCpu().busy - machine.busy) / wall;
        onRun(server, r);
      } catch (error) {
        server.error = errorText(error);
        log(`${server.name}: ${server.error}`);
      }
    }
  }
}

/** Medians (and every run) of the sessions/s and CPU figures of a list of runs. */
function summary(runs) {
  const rates = runs.map((r) => r.sessions / r.seconds);
  return {
    median: median(rates),
    runs: rates,
    errors: runs.reduce((n, r) => n + r.errors, 0),
    firstError: runs.find((r) => r.firstError)?.firstError,
    latencyMs: median(runs.map((r) => r.latencyMs.median)),
    serverCores: median(runs.map((r) => r.serverCores)),
    loadgenCores: median(runs.map((r) => r.loadgenCores)),
    machineCores: median(runs.map((r) => r.machineCores)),
    ...(runs[0]?.tls ? { tls: runs[0].tls } : {}),
  };
}

const dovecots = [];
try {
  // ---- Dovecot: two private instances with the benchmark users ----
  if (USE_DOVECOT) {
    const users = [...benchUsers, ...deleteUsers, ...dovecotIdleUsers, "big"].map((u) => [
      u,
      PASSWORD,
    ]);
    for (const [mode, key, runtime, port, name] of [
      ["performance", "dovecot-hp", `${DOVECOT_RUNTIME}-hp`, DOVECOT_PORT + 2, "high-performance"],
      ["stock", "dovecot", DOVECOT_RUNTIME, DOVECOT_PORT, "stock"],
    ]) {
      const t = performance.now();
      const dovecot = await startDovecot({ runtime, port, tlsPort: port + 1, users, mode });
      if (dovecot.error !== undefined) {
        result.dovecot[key] = { available: false, error: dovecot.error };
        log(`Dovecot (${name}) is not available (${dovecot.error}); its rows say n/a`);
        continue;
      }
      if (process.env.BENCH_DOVECOT_KEEP !== "1") onCleanup(() => dovecot.stop());
      try {
        await dovecot.seed([
          { names: benchUsers, mail: [sessionMail] },
          { names: deleteUsers, mail: [deleteMail] },
          { names: dovecotIdleUsers, mail: [idleMail] },
        ]);
        await dovecot.resetMail("big");
        await dovecot.deliver("big", mailSet(bigMail)[0]);
        const short = dovecot.version.split(" ")[0];
        Object.assign(dovecot, { key, name: `Dovecot ${short}, ${name}` });
        dovecots.push(dovecot);
        result.dovecot[key] = {
          available: true,
          version: dovecot.version,
          mode,
          port,
          config: dovecot.config,
        };
        log(
          `Dovecot ${short} (${name}) on ${HOST}:${port} and ${port + 1} (TLS), seeded in ${((performance.now() - t) / 1000).toFixed(1)} s`,
        );
      } catch (error) {
        result.dovecot[key] = { available: false, error: errorText(error) };
      }
    }
  } else {
    result.dovecot = {
      "dovecot-hp": { available: false, error: "BENCH_DOVECOT=0" },
      dovecot: { available: false, error: "BENCH_DOVECOT=0" },
    };
  }
  const dovecotServer = (dovecot, tls = false) => ({
    key: dovecot.key,
    name: dovecot.name,
    port: tls ? dovecot.tlsPort : dovecot.port,
    processes: "its process tree",
    cpuSeconds: async () => dovecot.cpuSeconds(),
    pids: () => dovecot.pids(),
  });
  const missingDovecots = () =>
    Object.entries(result.dovecot)
      .filter(([, d]) => !d.available)
      .map(([key, d]) => ({
        key,
        name: key === "dovecot-hp" ? "Dovecot, high-performance" : "Dovecot, stock",
        error: d.error,
        levels: {},
      }));
  const tlsFiles = dovecots[0]?.tls ?? makeCertificate();

  const maildirRoot = join(scratch, "maildir");
  for (const user of benchUsers) writeMaildir(maildirRoot, user, mailSet(sessionMail));
  writeMaildir(maildirRoot, "big", mailSet(bigMail));
  const benchGroup = { names: benchUsers, password: PASSWORD, mail: [sessionMail] };
  const userList = benchUsers.map((u) => [u, PASSWORD]);
  const sessionJob = (server, concurrency, tls) => ({
    type: "sessions",
    port: server.port,
    users: userList.slice(0, concurrency),
    concurrency,
    warmupMs: WARMUP_MS,
    durationMs: WINDOW_MS,
    ...(tls ? { tls: { servername: "localhost" } } : {}),
  });

  // ---- 1. sessions/s ----
  if (PHASES.has("sessions")) {
    const servers = [
      {
        key: "memory",
        name: "pop3-server, MemoryStore",
        ours: await startOurs({ store: "memory", users: [benchGroup] }),
      },
    ];
    for (const workers of WORKERS) {
      servers.push({
        key: workers === 1 ? "maildir" : `maildir-w${workers}`,
        name: `pop3-server, MaildirStore${workers === 1 ? "" : `, ${workers} workers`}`,
        workers,
        // A worker count only matters when there is more than one session at a time.
        levels: workers === 1 ? LEVELS : LEVELS.filter((c) => c > 1),
        ours: await startOurs({
          store: "maildir",
          root: maildirRoot,
          users: [benchGroup],
          workers,
        }),
      });
    }
    for (const s of servers) {
      s.port = s.ours.port;
      s.cpuSeconds = s.ours.cpuSeconds;
      s.processes = `${s.workers ?? 1} process${(s.workers ?? 1) > 1 ? "es + a primary" : ""}`;
    }
    for (const dovecot of dovecots) servers.push(dovecotServer(dovecot));
    log(
      `sessions/s, ${SESSION_MESSAGES} × ${SESSION_MESSAGE_BYTES / 1000} KB per session, concurrency ${LEVELS.join(", ")}, ${SESSION_RUNS} run(s) of ${WINDOW_MS / 1000} s`,
    );
    // Warm-up: every user's first session (Maildir: new/ to cur/, sizes measured; Dovecot:
    // indexes built, \Seen flags set) and the JIT, not counted.
    for (const server of servers) {
      try {
        await load({
          ...sessionJob(server, MAX_LEVEL),
          warmupMs: 0,
          durationMs: Math.max(500, WARMUP_MS),
        });
      } catch (error) {
        server.error = `warm-up: ${errorText(error)}`;
      }
    }
    const runs = new Map(servers.map((s) => [s.key, new Map(LEVELS.map((c) => [c, []]))]));
    for (const concurrency of LEVELS) {
      const here = servers.filter((s) => (s.levels ?? LEVELS).includes(concurrency));
      await interleaved(
        here,
        SESSION_RUNS,
        (server) => load(sessionJob(server, concurrency)),
        (server, r) => runs.get(server.key).get(concurrency).push(r),
      );
    }
    for (const server of servers) {
      const levels = {};
      for (const c of server.levels ?? LEVELS) levels[c] = summary(runs.get(server.key).get(c));
      result.sessions.push({
        key: server.key,
        name: server.name,
        workers: server.workers,
        processes: server.processes,
        levels,
        error: server.error,
      });
    }
    result.sessions.push(...missingDovecots());
    for (const s of servers) await s.ours?.stop();
  }

  // ---- 2. the delete workload ----
  if (PHASES.has("delete")) {
    const deleteRoot = join(scratch, "maildir-delete");
    for (const user of deleteUsers) writeMaildir(deleteRoot, user, mailSet(deleteMail));
    const group = { names: deleteUsers, password: PASSWORD, mail: [deleteMail] };
    const ours = await startOurs({ store: "maildir", root: deleteRoot, users: [group] });
    let round = 0;
    const servers = [
      {
        key: "maildir",
        name: "pop3-server, MaildirStore",
        port: ours.port,
        cpuSeconds: ours.cpuSeconds,
        refill: async (spec) => {
          for (const user of deleteUsers) refillMaildir(deleteRoot, user, spec);
        },
      },
      ...dovecots.map((d) => ({ ...dovecotServer(d), refill: (spec) => d.refill(spec) })),
    ];
    /** Tops every mailbox up again as an MTA delivers (before each batch; not timed). */
    const refill = async (server) => {
      round += 1;
      const spec = {
        names: deleteUsers,
        count: DELETE_MESSAGES,
        size: SESSION_MESSAGE_BYTES,
        round,
      };
      await server.refill(spec);
    };
    const batch = (server, concurrency) =>
      load({
        type: "batch",
        port: server.port,
        users: deleteUsers.map((u) => [u, PASSWORD]),
        concurrency,
        workload: "delete",
      });
    log(
      `delete workload: ${DELETE_USERS} mailboxes of ${DELETE_MESSAGES} × ${SESSION_MESSAGE_BYTES / 1000} KB, a session each (half deleted), concurrency ${DELETE_LEVELS.join(", ")}, ${SESSION_RUNS} run(s)`,
    );
    // Warm-up: the first session of every mailbox (new/ to cur/, indexes), not counted; from
    // then on each batch finds half of each mailbox old and half new.
    for (const server of servers) {
      try {
        await refill(server);
        const r = await batch(server, Math.max(...DELETE_LEVELS));
        if (r.errors > 0) throw new Error(r.firstError);
      } catch (error) {
        server.error = `warm-up: ${errorText(error)}`;
      }
    }
    const runs = new Map(servers.map((s) => [s.key, new Map(DELETE_LEVELS.map((c) => [c, []]))]));
    for (const concurrency of DELETE_LEVELS) {
      await interleaved(
        servers,
        SESSION_RUNS,
        async (server) => {
          const r = await batch(server, concurrency);
          if (r.deleted !== r.sessions * Math.ceil(DELETE_MESSAGES / 2) && r.errors === 0)
            throw new Error(`deleted ${r.deleted} messages in ${r.sessions} sessions`);
          return r;
        },
        (server, r) => runs.get(server.key).get(concurrency).push(r),
        refill,
      );
    }
    for (const server of servers) {
      const levels = {};
      for (const c of DELETE_LEVELS) levels[c] = summary(runs.get(server.key).get(c));
      result.deletes.push({ key: server.key, name: server.name, levels, error: server.error });
    }
    result.deletes.push(...missingDovecots());
    await ours.stop();
  }

  // ---- 3. implicit TLS ----
  if (PHASES.has("tls")) {
    const ours = await startOurs({
      store: "maildir",
      root: maildirRoot,
      users: [benchGroup],
      tls: tlsFiles,
    });
    const servers = [
      {
        key: "maildir",
        name: "pop3-server, MaildirStore",
        port: ours.tlsPort,
        cpuSeconds: ours.cpuSeconds,
      },
      ...dovecots.map((d) => dovecotServer(d, true)),
    ];
    log(`implicit TLS, concurrency ${TLS_LEVEL}, ${SESSION_RUNS} run(s) of ${WINDOW_MS / 1000} s`);
    for (const server of servers) {
      try {
        await load({ ...sessionJob(server, TLS_LEVEL, true), warmupMs: 0, durationMs: 500 });
      } catch (error) {
        server.error = `warm-up: ${errorText(error)}`;
      }
    }
    const runs = new Map(servers.map((s) => [s.key, []]));
    await interleaved(
      servers,
      SESSION_RUNS,
      (server) => load(sessionJob(server, TLS_LEVEL, true)),
      (server, r) => runs.get(server.key).push(r),
    );
    for (const server of servers) {
      result.tls.push({
        key: server.key,
        name: server.name,
        levels: { [TLS_LEVEL]: summary(runs.get(server.key)) },
        error: server.error,
      });
    }
    result.tls.push(...missingDovecots());
    await ours.stop();
  }

  // ---- 4. RETR throughput of one big message ----
  if (PHASES.has("retr")) {
    log(`RETR of one ${(RETR_BYTES / 1e6).toFixed(0)} MB message, ${RUNS} run(s)`);
    const bigGroup = { names: ["big"], password: PASSWORD, mail: [bigMail] };
    const ceiling = await startChild("ceiling-child.mjs", [JSON.stringify(bigMail)]);
    const servers = [
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
      ...dovecots.map((d) => ({ key: d.key, name: d.name, port: d.port })),
      { key: "ceiling", name: "plain Node socket server (ceiling)", port: ceiling.first.port },
    ];
    for (const s of servers) s.port ??= s.ours.port;
    const retrRuns = new Map(servers.map((s) => [s.key, []]));
    const retrJob = (server) => ({
      type: "retr",
      port: server.port,
      user: "big",
      password: PASSWORD,
      msg: 1,
    });
    for (const server of servers) {
      try {
        await load(retrJob(server)); // warm-up: page cache, JIT, Dovecot's index
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
    for (const missing of missingDovecots())
      result.retr.push({ ...missing, median: Number.NaN, runs: [] });
    for (const s of servers) await s.ours?.stop();
    await stopChild(ceiling.child);
  }

  // ---- 5. memory per idle session, plain and TLS ----
  if (PHASES.has("memory")) {
    log(
      `memory of ${IDLE} idle sessions (ours, plain), ${IDLE_TLS} (ours, TLS), ${DOVECOT_IDLE} (Dovecot)`,
    );
    const idleUsers = names("idle", Math.max(IDLE, IDLE_TLS));
    for (const [key, count, tls] of [
      ["ours", IDLE, false],
      ["oursTls", IDLE_TLS, true],
    ]) {
      const ours = await startOurs(
        {
          store: "memory",
          users: [{ names: idleUsers.slice(0, count), password: PASSWORD, mail: [idleMail] }],
          ...(tls ? { tls: tlsFiles } : {}),
        },
        { fds: count + 1000 },
      );
      const port = tls ? ours.tlsPort : ours.port;
      const tlsJob = tls ? { tls: { servername: "localhost" } } : {};
      try {
        // One session first, so that code paths, JIT and pools any server has once it has served
        // a client are in the baseline and not divided among the idle sessions.
        await load({
          type: "idle",
          port,
          users: [[idleUsers[0], PASSWORD]],
          count: 1,
          parallel: 1,
          ...tlsJob,
        });
        await load({ type: "close" });
        await new Promise((resolve) => setTimeout(resolve, 500));
        const before = await ours.memory();
        const opened = await load(
          {
            type: "idle",
            port,
            users: idleUsers.slice(0, count).map((u) => [u, PASSWORD]),
            count,
            parallel: tls ? 20 : 100,
            // Four source addresses, so ephemeral ports never run short.
            localAddresses: ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"],
            ...tlsJob,
          },
          900_000,
        );
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const after = await ours.memory();
        await load({ type: "close" });
        const n = after.stats.activeConnections - before.stats.activeConnections;
        result.memory[key] = {
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
        result.memory[key] = { error: errorText(error) };
      } finally {
        await ours.stop();
      }
    }
    const hp = dovecots.find((d) => d.key === "dovecot-hp") ?? dovecots[0];
    for (const [key, tls] of [
      ["dovecot", false],
      ["dovecotTls", true],
    ]) {
      if (hp === undefined) {
        result.memory[key] = { error: result.dovecot["dovecot-hp"]?.error ?? "not run" };
        continue;
      }
      try {
        // A fresh instance each time: its pop3 processes (which outlive their sessions in this
        // mode) are not reused from the previous measurement.
        await hp.restart();
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const before = hp.memory();
        const opened = await load({
          type: "idle",
          port: tls ? hp.tlsPort : hp.port,
          users: dovecotIdleUsers.map((u) => [u, PASSWORD]),
          count: DOVECOT_IDLE,
          parallel: 20,
          ...(tls ? { tls: { servername: "localhost" } } : {}),
        });
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const after = hp.memory();
        await load({ type: "close" });
        const n = opened.open;
        result.memory[key] = {
          name: hp.name,
          processesPerSession: (after.processes - before.processes) / n,
          sessions: n,
          errors: opened.errors,
          firstError: opened.firstError,
          pssPerSession: (after.pss - before.pss) / n,
          rssPerSession: (after.rss - before.rss) / n,
          processes: { before: before.processes, after: after.processes, byName: after.byName },
        };
      } catch (error) {
        result.memory[key] = { error: errorText(error) };
      }
    }
  }

  // ---- 6. syscalls and CPU per session ----
  if (PHASES.has("syscalls")) {
    log(`syscalls and CPU per session (${SYSCALL_SESSIONS} traced, ${CPU_SESSIONS} timed)`);
    const ours = await startOurs({ store: "maildir", root: maildirRoot, users: [benchGroup] });
    const batch = (port, n) =>
      load({
        type: "batch",
        port,
        users: Array.from({ length: n }, () => ["bench1", PASSWORD]),
        concurrency: 1,
      });
    const config = { traced: SYSCALL_SESSIONS, cpuSessions: CPU_SESSIONS, mail: sessionMail };
    result.syscalls = { config, servers: [] };
    const servers = [
      {
        key: "maildir",
        name: "pop3-server, MaildirStore",
        port: ours.port,
        pids: () => [ours.pid],
        cpuSeconds: ours.cpuSeconds,
      },
      ...dovecots.map((d) => dovecotServer(d)),
    ];
    for (const server of servers) {
      try {
        result.syscalls.servers.push(await profileSessions(server, batch, config));
      } catch (error) {
        result.syscalls.servers.push({
          key: server.key,
          name: server.name,
          error: errorText(error),
        });
      }
    }
    await ours.stop();
  }
} finally {
  await stopChild(loadgen);
  await runCleanups();
  killChildren();
}

result.seconds = (performance.now() - started) / 1000;
if (process.env.BENCH_JSON_OUT)
  writeFileSync(process.env.BENCH_JSON_OUT, `${JSON.stringify(result, null, 2)}\n`);
console.log(serverSections(result));
log(`done in ${result.seconds.toFixed(0)} s`);
