/**
 * Child processes for the scale and crash tests: server nodes and load generators (test/fixtures)
 * each with a file-descriptor limit raised for thousands of sockets, an IPC channel, and a
 * throwaway PostgreSQL cluster of their own to crash (scripts/postgres/postgres.sh).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { PACKAGE_DIR, POSTGRES_SCRIPT, REQUIRE_PEERS } from "./support";

/** The scratch cluster can be made here: CI (root), or a developer who ran postgres.sh env. */
export const CAN_MAKE_CLUSTERS = process.env["POP3_PG_SCRIPT"] !== undefined || REQUIRE_PEERS;

export interface Child {
  readonly process: ChildProcess;
  /** What it wrote to stderr so far (the first 20,000 characters). */
  stderr(): string;
  readonly first: Record<string, unknown>;
  ask<T = Record<string, unknown>>(job: Record<string, unknown>, ms?: number): Promise<T>;
  /** Ends it (SIGTERM, or the signal given) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts `node fixtures/<script> ...args` through `sh`, so that `ulimit -n` can be raised first;
 * resolves once the child's first IPC message arrived.
 */
export async function startChild(
  script: string,
  args: string[] = [],
  { fds = 0, execArgv = [] as string[] } = {},
): Promise<Child> {
  if (!existsSync(join(PACKAGE_DIR, "dist/index.js"))) {
    throw new Error("pop3-store-postgres is not built: run `pnpm build` (turbo does before tests)");
  }
  const node = [...execArgv, join(PACKAGE_DIR, "test/fixtures", script), ...args];
  const child = spawn(
    "sh",
    [
      "-c",
      'ulimit -n "$0" 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"',
      String(Math.max(fds, 1024)),
      process.execPath,
      ...node,
    ],
    { cwd: PACKAGE_DIR, stdio: ["ignore", "inherit", "pipe", "ipc"] },
  );
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    // The first lines only: enough to explain a failure, bounded however chatty it gets.
    if (stderr.length < 20_000) stderr += chunk.toString("utf8");
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const first = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${script} did not start:\n${stderr}`)),
      60_000,
    );
    child.once("message", (message) => {
      clearTimeout(timer);
      resolve(message as Record<string, unknown>);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${code ?? signal}):\n${stderr}`));
    });
  });
  return {
    process: child,
    stderr: () => stderr,
    first,
    ask: <T>(job: Record<string, unknown>, ms = 600_000) =>
      new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${script}: no answer in ${ms} ms`)), ms);
        const onExit = (code: number | null) => {
          clearTimeout(timer);
          reject(new Error(`${script} exited (${code}):\n${stderr}`));
        };
        child.once("exit", onExit);
        child.once("message", (answer) => {
          clearTimeout(timer);
          child.off("exit", onExit);
          const a = answer as Record<string, unknown>;
          if (a["error"] !== undefined) reject(new Error(String(a["error"])));
          else resolve(a as T);
        });
        child.send(job);
      }),
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

function script(command: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "bash",
      [POSTGRES_SCRIPT, command],
      { timeout: 180_000, env: { ...process.env, ...env } },
      (error, out, stderr) => {
        if (error) reject(new Error(`postgres.sh ${command} failed: ${stderr}`));
        else resolve(out);
      },
    );
  });
}

export interface ScratchCluster {
  readonly url: string;
  /** `pg_ctl -m immediate`: every backend ends at once; nothing is checkpointed. */
  crash(): Promise<void>;
  /** Starts it again (after a crash: recovery from the WAL first). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A PostgreSQL cluster of the tests' own (port 15433 unless POP3_PG_SCRATCH_PORT), with
 * `max_connections` as given: crashing it disturbs nobody else's database.
 */
export async function scratchCluster(
  maxConnections: number,
  maxLocksPerTransaction = 64,
): Promise<ScratchCluster> {
  const port = process.env["POP3_PG_SCRATCH_PORT"] ?? "15433";
  const env = {
    POP3_PG_PORT: port,
    POP3_PG_RUNTIME: `/tmp/pop3-postgres-scratch-${port}`,
    POP3_PG_MAX_CONNECTIONS: String(maxConnections),
    POP3_PG_MAX_LOCKS_PER_TRANSACTION: String(maxLocksPerTransaction),
  };
  await script("start", env);
  const url = /POP3_PG_URL=(\S+)/.exec(await script("env", env))?.[1];
  if (url === undefined) throw new Error("postgres.sh env printed no POP3_PG_URL");
  return {
    url,
    crash: async () => {
      await script("crash", env);
    },
    start: async () => {
      await script("start", env);
    },
    stop: async () => {
      await script("stop", env);
    },
  };
}
