// Syscalls and CPU time per session, ours against Dovecot on the same mail: figures that depend
// far less on how busy the machine is than sessions/s do. One session is the sessions/s workload
// (USER, PASS, STAT, UIDL, LIST, RETR of every message, QUIT), run one at a time.
//
//   - syscalls: `strace -c -f` attached to the server (ours: its one process, every thread;
//     Dovecot: the master and every process below it, which -f follows into the processes it
//     forks) for a few sessions after two warm-up sessions; counts divided by the sessions.
//     strace slows the servers down, so it gives counts only, never times.
//   - CPU: more sessions without strace; the server's CPU time (ours: its process; Dovecot: its
//     whole process tree, reaped children included) divided by the sessions.
//
// server.bench.mjs runs this as its "syscalls" phase (`profileSessions`). Alone,
// `node syscalls.mjs` profiles pop3-server with MaildirStore and, when Dovecot can run here,
// its high-performance and stock instances (the same private instances as server.bench.mjs),
// on 100 × 10 KB. Environment: BENCH_SYSCALL_SESSIONS 10, BENCH_CPU_SESSIONS 100,
// BENCH_SESSION_MESSAGES 100, BENCH_SESSION_MESSAGE_BYTES 10000, BENCH_DOVECOT 1,
// BENCH_SERVER_EXEC_ARGV (extra node flags for our server, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p"),
// BENCH_JSON_OUT. Needs strace (and root for Dovecot); without strace only CPU is given.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ask, killChildren, startChild, stopChild } from "./children.mjs";
import { startDovecot } from "./dovecot.mjs";
import { mailSet, writeMaildir } from "./mailboxes.mjs";

export const hasStrace = (() => {
  try {
    execFileSync("strace", ["-V"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

/** Whether every thread of `pids` is being traced (TracerPid set). */
function allTraced(pids) {
  for (const pid of pids) {
    let tasks;
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // gone
    }
    for (const task of tasks) {
      try {
        const status = readFileSync(`/proc/${pid}/task/${task}/status`, "utf8");
        if (/^TracerPid:\s+0$/m.test(status)) return false;
      } catch {
        // gone
      }
    }
  }
  return true;
}

/** Parses `strace -c`'s table: { calls: { syscall: count }, total }. */
function parseStraceSummary(text) {
  const calls = {};
  let total = 0;
  for (const line of text.split("\n")) {
    // % time, seconds, usecs/call, calls, [errors,] syscall
    const fields = line.trim().split(/\s+/);
    if (fields.length < 5 || !/^\d+\.\d+$/.test(fields[0])) continue;
    const count = Number(fields[3]);
    if (!Number.isFinite(count)) continue;
    if (fields.at(-1) === "total") total = count;
    else calls[fields.at(-1)] = count;
  }
  return { calls, total };
}

/** `strace -c -f` on `pids` while `work()` runs; the calls divided by `sessions`. */
async function traceSessions(pids, work, sessions) {
  const out = join(tmpdir(), `pop3-strace-${process.pid}-${Date.now()}.txt`);
  const strace = spawn(
    "strace",
    ["-c", "-f", "-qq", "-o", out, ...pids.flatMap((p) => ["-p", p])],
    {
      stdio: "ignore",
    },
  );
  const exited = new Promise((resolve) => strace.once("exit", resolve));
  for (let i = 0; i < 100 && !allTraced(pids); i++) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 200));
  try {
    await work();
  } finally {
    strace.kill("SIGINT");
    await exited;
  }
  const { calls, total } = parseStraceSummary(readFileSync(out, "utf8"));
  rmSync(out, { force: true });
  const per = {};
  for (const [name, n] of Object.entries(calls)) per[name] = n / sessions;
  return { calls: per, total: total / sessions };
}

/**
 * Syscalls and CPU per session of one server: `server` is { key, name, port, pids(),
 * cpuSeconds() }, `batch(port, n)` runs n sessions one at a time (the load generator's batch
 * job). Two warm-up sessions first.
 */
export async function profileSessions(server, batch, { traced, cpuSessions }) {
  const entry = { key: server.key, name: server.name };
  const warm = await batch(server.port, 2);
  if (warm.errors > 0) throw new Error(`${server.name}: ${warm.firstError}`);
  if (hasStrace) {
    const counted = await traceSessions(
      server.pids(),
      async () => {
        const r = await batch(server.port, traced);
        if (r.errors > 0) throw new Error(`${server.name} under strace: ${r.firstError}`);
      },
      traced,
    );
    entry.syscalls = counted.calls;
    entry.totalSyscalls = counted.total;
  }
  const before = await server.cpuSeconds();
  const r = await batch(server.port, cpuSessions);
  if (r.errors > 0) throw new Error(`${server.name}: ${r.firstError}`);
  entry.cpuMsPerSession = (((await server.cpuSeconds()) - before) / r.sessions) * 1000;
  entry.sessionMs = (r.seconds / r.sessions) * 1000;
  entry.loadgenCpuMsPerSession = (r.cpuSeconds / r.sessions) * 1000;
  return entry;
}

/** Markdown: per-session totals, then syscalls by name (those >= 0.5 per session somewhere). */
export function syscallTables({ config, servers }) {
  const traced = servers.filter((s) => s.syscalls !== undefined);
  const names = new Set(traced.flatMap((s) => Object.keys(s.syscalls)));
  const rows = [...names]
    .map((name) => [name, ...traced.map((s) => s.syscalls[name] ?? 0)])
    .filter((row) => row.slice(1).some((n) => n >= 0.5))
    .sort((a, b) => Math.max(...b.slice(1)) - Math.max(...a.slice(1)));
  const cell = (n) => (n === 0 ? "" : n >= 10 ? n.toFixed(0) : n.toFixed(1));
  const value = (s, f) => (s.error ? `n/a: ${s.error}` : f(s));
  const lines = [
    `| per session (${config.mail.count} × ${config.mail.size / 1000} KB, one at a time) | ${servers.map((s) => s.name).join(" | ")} |`,
    `| --- | ${servers.map(() => "---:").join(" | ")} |`,
    `| server CPU, ms | ${servers.map((s) => value(s, (x) => x.cpuMsPerSession?.toFixed(2) ?? "n/a")).join(" | ")} |`,
    `| load generator CPU, ms | ${servers.map((s) => value(s, (x) => x.loadgenCpuMsPerSession?.toFixed(2) ?? "n/a")).join(" | ")} |`,
    `| session time, ms | ${servers.map((s) => value(s, (x) => x.sessionMs?.toFixed(1) ?? "n/a")).join(" | ")} |`,
    `| system calls | ${servers.map((s) => value(s, (x) => x.totalSyscalls?.toFixed(0) ?? "n/a (no strace)")).join(" | ")} |`,
  ];
  if (traced.length > 0) {
    lines.push(
      "",
      `System calls per session by name (\`strace -c -f\` over ${config.traced} sessions; those with at least 0.5 per session in one column):`,
      "",
      `| syscall | ${traced.map((s) => s.name).join(" | ")} |`,
      `| --- | ${traced.map(() => "---:").join(" | ")} |`,
      ...rows.map(([name, ...counts]) => `| ${name} | ${counts.map(cell).join(" | ")} |`),
    );
  }
  return lines.join("\n");
}

async function main() {
  const number = (name, fallback) => {
    const value = Number(process.env[name] ?? fallback);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a number > 0`);
    return Math.round(value);
  };
  const config = {
    traced: number("BENCH_SYSCALL_SESSIONS", 10),
    cpuSessions: number("BENCH_CPU_SESSIONS", 100),
    mail: {
      count: number("BENCH_SESSION_MESSAGES", 100),
      size: number("BENCH_SESSION_MESSAGE_BYTES", 10_000),
      seed: 1,
    },
  };
  const [user, password] = ["prof", "bench-password"];
  const scratch = mkdtempSync(join(tmpdir(), "pop3-syscalls-"));
  process.once("exit", () => rmSync(scratch, { recursive: true, force: true }));
  const { child: loadgen } = await startChild("loadgen.mjs");
  const batch = (port, n) =>
    ask(loadgen, {
      type: "batch",
      host: "127.0.0.1",
      port,
      users: Array.from({ length: n }, () => [user, password]),
      concurrency: 1,
    });
  const results = { config, servers: [] };
  const report = (entry) => {
    results.servers.push(entry);
    console.error(
      `syscalls: ${entry.name}: ${entry.totalSyscalls?.toFixed(0) ?? "n/a"} syscalls, ${entry.cpuMsPerSession?.toFixed(2)} ms CPU per session`,
    );
  };

  const root = join(scratch, "maildir");
  writeMaildir(root, user, mailSet(config.mail));
  const layout = {
    store: "maildir",
    root,
    users: [{ names: [user], password, mail: [config.mail] }],
  };
  const execArgv = (process.env.BENCH_SERVER_EXEC_ARGV ?? "").split(" ").filter(Boolean);
  const ours = await startChild("pop3-server-child.mjs", [JSON.stringify(layout)], { execArgv });
  report(
    await profileSessions(
      {
        key: "maildir",
        name: "pop3-server, MaildirStore",
        port: ours.first.port,
        pids: () => [ours.child.pid],
        cpuSeconds: async () => (await ask(ours.child, { type: "cpu" })).seconds,
      },
      batch,
      config,
    ),
  );
  await stopChild(ours.child); // lets it write a --cpu-prof profile

  if (process.env.BENCH_DOVECOT !== "0") {
    for (const [mode, runtime, port, name] of [
      ["performance", "/tmp/pop3-bench-dovecot-hp", 11142, "Dovecot, high-performance mode"],
      ["stock", "/tmp/pop3-bench-dovecot", 11140, "Dovecot, stock"],
    ]) {
      const dovecot = await startDovecot({
        runtime,
        port,
        tlsPort: port + 1,
        users: [[user, password]],
        mode,
      });
      if (dovecot.error !== undefined) {
        report({ key: `dovecot-${mode}`, name, error: dovecot.error });
        continue;
      }
      await dovecot.seed([{ names: [user], mail: [config.mail] }]);
      report(
        await profileSessions(
          {
            key: `dovecot-${mode}`,
            name,
            port,
            pids: () => dovecot.pids(),
            cpuSeconds: async () => dovecot.cpuSeconds(),
          },
          batch,
          config,
        ),
      );
      if (process.env.BENCH_DOVECOT_KEEP !== "1") await dovecot.stop();
    }
  }
  await stopChild(loadgen);
  results.markdown = syscallTables(results);
  console.log(results.markdown);
  if (process.env.BENCH_JSON_OUT)
    writeFileSync(process.env.BENCH_JSON_OUT, `${JSON.stringify(results, null, 2)}\n`);
  killChildren();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
