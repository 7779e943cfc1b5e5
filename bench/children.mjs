// Child processes of the server benchmarks: started with an IPC channel (through `sh` when the
// file-descriptor limit must be raised), asked one job at a time, always killed when the bench
// ends, fails or is interrupted, and the cleanups registered with `onCleanup` run.
import { execFileSync, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const children = new Set();
const cleanups = [];

export function killChildren() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}
process.once("exit", killChildren);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(signal, async () => {
    killChildren();
    await runCleanups();
    process.exit(130);
  });
}

/** Registers `fn` (async) to run at the end, last registered first. */
export function onCleanup(fn) {
  cleanups.push(fn);
}

export async function runCleanups() {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
}

/** The file-descriptor limit a child can get: `ulimit -n` raised as far as allowed. */
export function fdLimit(want) {
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
 * Starts `script` (in bench/) in its own Node process with an IPC channel, through `sh` when
 * `fds` asks for a higher `ulimit -n`. Resolves with the child and its first message.
 */
export function startChild(script, args = [], { execArgv = [], fds = 0, env } = {}) {
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
export function ask(child, job, ms = 600_000) {
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

/** Disconnects a child (it then closes and exits), killing it after 5 s. */
export function stopChild(child) {
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
