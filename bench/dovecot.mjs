// Dovecot for the server benchmarks: a private instance of scripts/dovecot/dovecot.sh (its own
// DOVECOT_RUNTIME and ports, so the test suites' instance on 11110 is never touched), with the
// benchmark users added through DOVECOT_EXTRA_USERS, seeded with the same bytes as our stores,
// and the PSS of its whole process tree for the memory figures.
//
// Everything here fails soft: `startDovecot` resolves with `{ error }` when Dovecot cannot run
// (not root and no passwordless sudo, no apt, a port taken...), and the bench prints "n/a".
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const SCRIPT = join(here, "..", "scripts", "dovecot", "dovecot.sh");
export const MAIL_UID = 65534;
/** The kernel's clock ticks per second for /proc times (USER_HZ: 100 on Linux everywhere). */
const CLOCK_TICKS = 100;

/** Runs a command; resolves with { code, stdout, stderr } (never rejects, except on spawn). */
function run(command, args, { env, input, timeoutMs = 600_000 } = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      env: { ...process.env, ...env },
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: `${stderr}${error.message}` });
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal, stdout, stderr });
    });
    if (input !== undefined) child.stdin.end(input);
  });
}

const isRoot = () => process.getuid?.() === 0;

/** A private Dovecot: `{ start, seed, deliver, memory, stop, host, port, version }` or `{ error }`. */
export async function startDovecot({ runtime, port, tlsPort, users, mode = "stock" }) {
  const env = {
    DOVECOT_MODE: mode,
    DOVECOT_RUNTIME: runtime,
    DOVECOT_POP3_PORT: String(port),
    DOVECOT_POP3S_PORT: String(tlsPort),
    DOVECOT_EXTRA_USERS: users.map(([user, password]) => `${user}:${password}`).join(","),
  };
  if (!isRoot()) {
    const sudo = await run("sudo", ["-n", "true"], { timeoutMs: 10_000 });
    if (sudo.code !== 0) return { error: "needs root or passwordless sudo" };
  }
  const started = await run("bash", [SCRIPT, "start"], { env });
  if (started.code !== 0) {
    return {
      error: `dovecot.sh start failed: ${started.stderr.trim().split("\n").slice(-3).join(" / ")}`,
    };
  }
  const vars = Object.fromEntries(
    [...(await run("bash", [SCRIPT, "env"], { env })).stdout.matchAll(/^export (\w+)=(.*)$/gm)].map(
      (m) => [m[1], m[2]],
    ),
  );
  const version = (await run("dovecot", ["--version"])).stdout.trim();
  const masterPidFile = join(runtime, "run", "master.pid");
  const masterPid = () => Number(readFileSync(masterPidFile, "utf8").trim());
  return {
    host: "127.0.0.1",
    port,
    tlsPort,
    mode,
    version,
    /** The configuration as Dovecot reads it (`doveconf -n`), for the report. */
    config: (await run("doveconf", ["-c", join(runtime, "dovecot.conf"), "-n"])).stdout,
    /** The certificate and key of its TLS listener (RSA 2048, self-signed). */
    tls: { cert: join(runtime, "tls", "server.crt"), key: join(runtime, "tls", "server.key") },
    /** The master and every process below it, now. */
    pids: () => descendants(processTable(), masterPid()),
    mailRoot: vars.POP3_DOVECOT_MAIL_ROOT ?? join(runtime, "mail"),
    /** Writes every group's Maildirs (as root: directly, else through `sudo -n node`). */
    async seed(groups) {
      const job = JSON.stringify({ mailRoot: this.mailRoot, uid: MAIL_UID, gid: MAIL_UID, groups });
      const args = [join(here, "dovecot-seed.mjs"), job];
      const result = isRoot()
        ? await run(process.execPath, args)
        : await run("sudo", ["-n", process.execPath, ...args]);
      if (result.code !== 0) throw new Error(`seeding Dovecot's Maildirs failed: ${result.stderr}`);
    },
    /** Tops every user in `names` up to `count` messages (see mailboxes.mjs's refillMaildir). */
    async refill(spec) {
      const job = JSON.stringify({
        mailRoot: this.mailRoot,
        uid: MAIL_UID,
        gid: MAIL_UID,
        refill: spec,
      });
      const args = [join(here, "dovecot-seed.mjs"), job];
      const result = isRoot()
        ? await run(process.execPath, args)
        : await run("sudo", ["-n", process.execPath, ...args]);
      if (result.code !== 0)
        throw new Error(`refilling Dovecot's Maildirs failed: ${result.stderr}`);
    },
    /** `dovecot.sh deliver user -`, the bytes on stdin. */
    async deliver(user, bytes) {
      const result = await run("bash", [SCRIPT, "deliver", user, "-"], { env, input: bytes });
      if (result.code !== 0) throw new Error(`dovecot.sh deliver failed: ${result.stderr}`);
    },
    async resetMail(user) {
      const result = await run("bash", [SCRIPT, "reset-mail", user], { env });
      if (result.code !== 0) throw new Error(`dovecot.sh reset-mail failed: ${result.stderr}`);
    },
    /** PSS and RSS summed over the master and all its descendants (needs root to read). */
    memory() {
      return processTreeMemory(masterPid());
    },
    /** CPU seconds of the master and its descendants (reaped ones count through cutime). */
    cpuSeconds() {
      return processTreeCpu(masterPid());
    },
    /** Stops and starts it again: no process left over from earlier sessions. */
    async restart() {
      const result = await run("bash", [SCRIPT, "restart"], { env, timeoutMs: 120_000 });
      if (result.code !== 0) throw new Error(`dovecot.sh restart failed: ${result.stderr}`);
    },
    async stop() {
      await run("bash", [SCRIPT, "stop"], { env, timeoutMs: 60_000 });
    },
  };
}

/** pid -> { ppid, name, ticks } of every process, from /proc/<pid>/stat. */
function processTable() {
  const table = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // gone
    }
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so cut at the last ")".
    const close = stat.lastIndexOf(")");
    const fields = stat.slice(close + 2).split(" ");
    // utime, stime, cutime, cstime are fields 14-17 of stat(5), i.e. 11-14 after the state.
    const ticks = [11, 12, 13, 14].reduce((n, i) => n + Number(fields[i]), 0);
    table.set(Number(entry), {
      ppid: Number(fields[1]),
      name: stat.slice(stat.indexOf("(") + 1, close),
      ticks,
    });
  }
  return table;
}

/** `root` and its descendants. */
function descendants(table, root) {
  const children = new Map();
  for (const [pid, { ppid }] of table) {
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(pid);
  }
  const out = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift();
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** CPU seconds (user + system, with reaped children) of `root` and its descendants. */
export function processTreeCpu(root) {
  const table = processTable();
  let ticks = 0;
  for (const pid of descendants(table, root)) ticks += table.get(pid)?.ticks ?? 0;
  return ticks / CLOCK_TICKS;
}

/** Busy and total CPU seconds of the whole machine so far, from /proc/stat. */
export function machineCpu() {
  try {
    const [, ...values] = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = values.map(Number);
    const busy = user + nice + system + irq + softirq + steal;
    return { busy: busy / CLOCK_TICKS, total: (busy + idle + iowait) / CLOCK_TICKS };
  } catch {
    return { busy: Number.NaN, total: Number.NaN };
  }
}

/** { pss, rss, processes, byName } of `root` and its descendants, from /proc/<pid>/smaps_rollup. */
export function processTreeMemory(root) {
  const table = processTable();
  let pss = 0;
  let rss = 0;
  let processes = 0;
  const byName = {};
  for (const pid of descendants(table, root)) {
    let text;
    try {
      text = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    } catch (error) {
      if (error.code === "ENOENT" || error.code === "ESRCH") continue;
      throw error;
    }
    const field = (name) =>
      Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0) * 1024;
    pss += field("Pss");
    rss += field("Rss");
    processes += 1;
    const name = table.get(pid)?.name ?? "?";
    byName[name] = (byName[name] ?? 0) + 1;
  }
  return { pss, rss, processes, byName };
}
