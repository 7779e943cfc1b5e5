import { type ChildProcess, fork } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClusterStats, ClusterWorker, ServerAddresses } from "../../src/index";
import { RawClient } from "../support";

// Real processes and sockets: test/fixtures/cluster-fixture.mjs runs serveInWorkers from the
// built dist (run `pnpm build` first), so what is tested is what cluster really forks.
const FIXTURE = fileURLToPath(new URL("../fixtures/cluster-fixture.mjs", import.meta.url));

interface FixtureMessage {
  type: string;
  [key: string]: unknown;
}

/** One run of the fixture: its primary's IPC messages, and every pid it ever reported. */
class Fixture {
  readonly messages: FixtureMessage[] = [];
  readonly pids = new Set<number>();
  #waiters: (() => void)[] = [];
  exitCode: number | null | undefined;

  constructor(readonly child: ChildProcess) {
    child.on("message", (message: FixtureMessage) => {
      this.messages.push(message);
      for (const worker of (message["workers"] as ClusterWorker[] | undefined) ?? [])
        this.pids.add(worker.pid);
      for (const waiter of this.#waiters.splice(0)) waiter();
    });
    child.on("exit", (code) => {
      this.exitCode = code;
      for (const waiter of this.#waiters.splice(0)) waiter();
    });
  }

  /** The first message of `type` not yet taken (messages are taken in order). */
  async next(type: string): Promise<FixtureMessage> {
    for (;;) {
      const index = this.messages.findIndex((m) => m.type === type);
      if (index !== -1) return this.messages.splice(index, 1)[0] as FixtureMessage;
      if (this.exitCode !== undefined) throw new Error(`fixture exited before sending ${type}`);
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  async ask(type: "stats" | "workers" | "close", answer: string = type): Promise<FixtureMessage> {
    this.child.send({ type });
    return this.next(answer);
  }

  async stats(): Promise<ClusterStats> {
    return (await this.ask("stats"))["stats"] as ClusterStats;
  }

  async workers(): Promise<ClusterWorker[]> {
    return (await this.ask("workers"))["workers"] as ClusterWorker[];
  }

  logs(message: string): FixtureMessage[] {
    return this.messages.filter((m) => m.type === "log" && m["message"] === message);
  }

  exited(): Promise<number | null> {
    if (this.exitCode !== undefined) return Promise.resolve(this.exitCode);
    return new Promise((resolve) => this.child.once("exit", resolve));
  }

  /** Nothing may outlive the tests: the primary and every worker it reported. */
  kill(): void {
    this.child.kill("SIGKILL");
    for (const pid of this.pids) if (alive(pid)) process.kill(pid, "SIGKILL");
  }
}

const started: Fixture[] = [];
const roots: string[] = [];

function start(env: Record<string, string>): Fixture {
  const child = fork(FIXTURE, [], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const fixture = new Fixture(child);
  started.push(fixture);
  return fixture;
}

function maildirRoot(): string {
  const root = mkdtempSync(join(tmpdir(), "pop3-cluster-"));
  roots.push(root);
  const maildir = join(root, "alice", "Maildir");
  for (const sub of ["new", "cur", "tmp"]) mkdirSync(join(maildir, sub), { recursive: true });
  for (let i = 0; i < 3; i++)
    writeFileSync(
      join(maildir, "new", `${1700000000 + i}.M${i}P1.test`),
      `Subject: ${i}\r\n\r\nbody\r\n`,
    );
  return root;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function session(port: number): Promise<void> {
  const client = await RawClient.connect(port);
  await client.login("alice", "alice");
  expect(await client.command("STAT")).toMatch(/^\+OK 3 /);
  expect(await client.command("QUIT")).toMatch(/^\+OK/);
  client.socket.destroy();
}

/** Waits until the workers report `count` open connections in all (closes are seen late). */
async function activeConnections(fixture: Fixture, count: number): Promise<ClusterStats> {
  for (let i = 0; i < 200; i++) {
    const stats = await fixture.stats();
    if (stats.total.activeConnections === count) return stats;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`the workers never reported ${count} open connections`);
}

afterAll(() => {
  for (const fixture of started) fixture.kill();
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

describe("serveInWorkers with two workers over one Maildir", () => {
  let fixture: Fixture;
  let port: number;

  beforeAll(async () => {
    fixture = start({
      FIXTURE_STORE: "maildir",
      FIXTURE_ROOT: maildirRoot(),
      FIXTURE_WORKERS: "2",
    });
    const ready = await fixture.next("ready");
    port = (ready["addresses"] as ServerAddresses).plain?.port ?? 0;
  });

  it("starts two processes on one port, and both serve sessions", async () => {
    const workers = await fixture.workers();
    expect(new Set(workers.map((w) => w.pid)).size).toBe(2);
    expect(port).toBeGreaterThan(0);
    for (let i = 0; i < 40; i++) await session(port);
    const stats = await fixture.stats();
    expect(stats.workers).toHaveLength(2);
    for (const worker of stats.workers) expect(worker.stats.sessions).toBeGreaterThan(0);
    // The sum is the sum: every session was counted once, by the worker that served it.
    expect(stats.total.sessions).toBe(40);
    expect(stats.total.sessions).toBe(
      stats.workers.reduce((sum, worker) => sum + worker.stats.sessions, 0),
    );
  });

  it("answers [IN-USE] in one worker while a session in the other holds the maildrop", async () => {
    await activeConnections(fixture, 0);
    const holder = await RawClient.connect(port);
    await holder.login("alice", "alice");
    const first = await activeConnections(fixture, 1);
    const holderPid = first.workers.find((w) => w.stats.activeConnections === 1)?.pid;
    // Open connections until one lands on the other worker (cluster hands them out in turn).
    const open: RawClient[] = [];
    let other: RawClient | undefined;
    let onHolder = 1;
    for (let i = 0; i < 10 && other === undefined; i++) {
      const client = await RawClient.connect(port);
      expect(await client.line()).toMatch(/^\+OK/);
      open.push(client);
      const stats = await activeConnections(fixture, open.length + 1);
      const holderNow = stats.workers.find((w) => w.pid === holderPid)?.stats.activeConnections;
      if (holderNow === onHolder) other = client;
      else onHolder += 1;
    }
    if (other === undefined) throw new Error("no connection reached the second worker");
    expect(await other.command("USER alice")).toMatch(/^\+OK/);
    expect(await other.command("PASS alice")).toMatch(/^-ERR \[IN-USE\]/);
    // Once the holder QUITs, the lock file is gone and the same connection logs in.
    expect(await holder.command("QUIT")).toMatch(/^\+OK/);
    expect(await other.command("USER alice")).toMatch(/^\+OK/);
    expect(await other.command("PASS alice")).toMatch(/^\+OK/);
    expect(await other.command("QUIT")).toMatch(/^\+OK/);
    for (const client of open) client.socket.destroy();
  });

  it("restarts a worker killed with SIGKILL, and the port keeps serving", async () => {
    const before = await fixture.workers();
    const victim = before[0] as ClusterWorker;
    process.kill(victim.pid, "SIGKILL");
    let after = before;
    for (
      let i = 0;
      i < 200 && !after.some((w) => w.slot === victim.slot && w.pid !== victim.pid);
      i++
    ) {
      await new Promise((r) => setTimeout(r, 25));
      after = await fixture.workers();
    }
    const replacement = after.find((w) => w.slot === victim.slot);
    expect(replacement?.pid).not.toBe(victim.pid);
    expect(replacement?.restarts).toBe(1);
    expect(alive(victim.pid)).toBe(false);
    const crash = fixture.logs("worker exited; restarting it")[0]?.["fields"];
    expect(crash).toMatchObject({ slot: victim.slot, pid: victim.pid, signal: "SIGKILL" });
    for (let i = 0; i < 10; i++) await session(port);
    const stats = await fixture.stats();
    expect(stats.workers.find((w) => w.pid === replacement?.pid)?.stats.sessions).toBeGreaterThan(
      0,
    );
  });

  it("close() ends every worker, with a logged-in client still connected, without killing any", async () => {
    const workers = await fixture.workers();
    const client = await RawClient.connect(port);
    await client.login("alice", "alice");
    await fixture.ask("close", "closed");
    // The server told the idle client it is shutting down (after its grace), then hung up.
    expect(await client.line()).toMatch(/^-ERR \[SYS\/TEMP\]/);
    expect(await client.line()).toBeUndefined();
    for (const worker of workers) expect(alive(worker.pid)).toBe(false);
    expect(fixture.logs("worker did not close in time: killed")).toEqual([]);
    expect(await fixture.exited()).toBe(0);
  });
});

describe("serveInWorkers refuses what cannot work", () => {
  it("refuses a MemoryStore shared by two workers with a ConfigError", async () => {
    const fixture = start({ FIXTURE_STORE: "memory", FIXTURE_WORKERS: "2" });
    const error = await fixture.next("error");
    expect(error).toMatchObject({ name: "ConfigError", code: "POP3_CONFIG" });
    expect(error["message"]).toMatch(/MemoryStore cannot be shared by 2 worker processes/);
    expect(await fixture.exited()).toBe(1);
  });

  it("accepts a MemoryStore with one worker", async () => {
    const fixture = start({ FIXTURE_STORE: "memory", FIXTURE_WORKERS: "1" });
    const ready = await fixture.next("ready");
    expect(ready["workers"]).toHaveLength(1);
    await fixture.ask("close", "closed");
    expect(await fixture.exited()).toBe(0);
  });

  it("rejects with WorkerStartError when setup() throws, instead of restarting in a loop", async () => {
    const fixture = start({ FIXTURE_SETUP_THROWS: "1", FIXTURE_WORKERS: "2" });
    const error = await fixture.next("error");
    expect(error).toMatchObject({ name: "WorkerStartError", code: "POP3_WORKER_START" });
    expect(error["message"]).toBe("setup failed on purpose");
    expect(await fixture.exited()).toBe(1);
    expect(fixture.logs("worker exited; restarting it")).toEqual([]);
  });
});
