import { execFileSync } from "node:child_process";
import { closeSync, constants, openSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type Fixture,
  type KillableRun,
  makeMessages,
  readMaildir,
  removeDir,
  runCli,
  serverIdle,
  startCli,
  startFixture,
  tempDir,
  USER,
} from "./helpers";

/**
 * Stopping `fetch` with SIGTERM or Ctrl-C when the current message cannot finish: the process
 * ends all the same (the bound is this file's test timeout, far below the 60 s the client would
 * wait for a stalled answer, and "for ever" for a hung file-system call), and nothing is lost:
 * a message that is not stored is not deleted, and what was marked without QUIT stays too.
 *
 * Exit status: 130 when the run could end by itself (it stopped after the current message, or
 * closed the connection after the 5 s grace); killed by the signal itself (a shell's 130/143)
 * when a call of the run never returned or a second signal came.
 */

let f: Fixture;
const messages = makeMessages(6, { large: [4], seed: 21 });
let uids: string[] = [];
let dest: string;

// nothing here waits longer than 5 s grace + 1 s unwind; a hang is caught by this bound.
describe("fetch stops on a signal even when the current message cannot finish", {
  timeout: 40_000,
}, () => {
  beforeAll(async () => {
    f = await startFixture();
  });
  afterAll(async () => {
    await f.close();
  });
  beforeEach(async () => {
    f.server.reset();
    f.server.faults.clear();
    uids = messages.map((m) => f.server.addMessage(USER, m).uid);
    dest = await tempDir("pop3-signals-");
  });
  afterEach(async () => {
    f.server.faults.clear();
    await serverIdle(f.server);
    await removeDir(dest);
  });

  /** Faults are seen only in cleartext: --tls none. */
  const args = (...rest: string[]) => ["fetch", f.url, "--tls", "none", ...rest];
  const start = (
    rest: string[],
    options: Parameters<typeof startCli>[2] = {},
  ): { run: KillableRun; started: number } => ({
    run: startCli(f.home, args(...rest, "--json"), { env: f.env, ...options }),
    started: Date.now(),
  });
  /** The first RETR is answered, every later one stalls: message 2 never arrives. */
  const stallSecondRetr = (): void => {
    f.server.faults.add({ on: "RETR", times: 1, fault: { type: "chunk", size: 65536 } });
    f.server.faults.add({ on: "RETR", fault: { type: "stall" } });
  };
  const sentAt: { at: number | undefined } = { at: undefined };
  const kill = (run: KillableRun, signal: NodeJS.Signals): void => {
    sentAt.at ??= Date.now();
    run.child.kill(signal);
  };
  const report = (what: string): void => {
    if (sentAt.at !== undefined && process.env["DEBUG_SIGNALS"])
      console.log(`${what}: ended ${Date.now() - sentAt.at} ms after the signal`);
    sentAt.at = undefined;
  };

  /** The next run, without faults, completes: every message stored once, the server emptied. */
  async function nextRunCompletes(dir: string): Promise<void> {
    f.server.faults.clear();
    await serverIdle(f.server);
    const again = await runCli(f.home, args("--maildir", dir, "--delete"), { env: f.env });
    expect(again.code, again.err).toBe(0);
    expect(f.server.messages(USER)).toEqual([]);
    const stored = [...(await readMaildir(dir)).files.values()].map((b) => b.toString("latin1"));
    expect(stored.sort()).toEqual(messages.map((m) => m.toString("latin1")).sort());
  }

  it("SIGTERM while a RETR stalls: the connection is closed after the grace, exit 130, nothing deleted", async () => {
    stallSecondRetr();
    const dir = join(dest, "M");
    const { run } = start(["--maildir", dir, "--delete"], {
      onEvent: (event, r) => {
        // Message 1 is stored and marked; RETR 2 is on its way (and will never be answered).
        if (event["event"] === "marked-deleted" && event["msg"] === 1) kill(r, "SIGTERM");
      },
    });
    const result = await run.exited;
    report("stalled RETR");
    expect(result.code, result.err).toBe(130);
    expect(run.events.at(-1)).toMatchObject({
      event: "done",
      stored: 1,
      deleted: 0,
      committed: false,
      interrupted: true,
      forced: true,
      exitCode: 130,
    });
    expect(result.err).toMatch(/stopping after the current message/);
    // No QUIT: message 1, stored and marked, is not deleted either; message 2 was never stored.
    expect(f.server.deletions).toEqual([]);
    expect(f.server.messages(USER).map((m) => m.uid)).toEqual(uids);
    await nextRunCompletes(dir);
  });

  it("a second signal ends the process at once, by that signal; nothing deleted", async () => {
    stallSecondRetr();
    const dir = join(dest, "M");
    const { run } = start(["--maildir", dir, "--delete"], {
      onEvent: (event, r) => {
        if (event["event"] === "marked-deleted" && event["msg"] === 1) kill(r, "SIGINT");
      },
      onStderrLine: (line, r) => {
        // The first one was taken (the note says so): now the second.
        if (line.startsWith("stopping after the current message")) r.child.kill("SIGINT");
      },
    });
    const result = await run.exited;
    report("second signal");
    expect(result.signal, result.err).toBe("SIGINT");
    expect(f.server.deletions).toEqual([]);
    expect(f.server.messages(USER)).toHaveLength(6);
    await nextRunCompletes(dir);
  });

  it("a step that never returns (stuck after writing message 2): the process still ends, killed by its SIGTERM", async () => {
    const dir = join(dest, "M");
    const { run } = start(["--maildir", dir, "--delete"], {
      env: { ...f.env, POP3_CLI_FAILPOINT: "maildir-tmp-written:2" },
      onStderrLine: (line, r) => {
        if (line.startsWith("failpoint ")) kill(r, "SIGTERM");
      },
    });
    const result = await run.exited;
    report("stuck step");
    expect(result.signal, result.err).toBe("SIGTERM");
    // It said what happened before it went.
    expect(run.events.at(-1)).toMatchObject({
      event: "done",
      stored: 1,
      interrupted: true,
      forced: true,
      exitCode: 130,
    });
    expect(f.server.deletions).toEqual([]);
    // Message 2 was not stored (its tmp/ file is removed by the next run); the lock is stale.
    expect((await readMaildir(dir)).files.size).toBe(1);
    await nextRunCompletes(dir);
  });

  it("a file-system call that never returns (a FIFO as state file): SIGTERM still ends the process", async () => {
    const dir = join(dest, "M");
    const fifo = join(dest, "state.fifo");
    execFileSync("mkfifo", [fifo]);
    const { run } = start(["--maildir", dir, "--state", fifo]);
    // Wait until fetch has opened the FIFO; then hold the writing end open without writing:
    // its read() blocks in a file-system thread for as long as we like.
    let writer: number | undefined;
    for (let i = 0; i < 500 && writer === undefined; i++) {
      try {
        writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    expect(writer, "fetch never opened the FIFO").toBeDefined();
    try {
      kill(run, "SIGTERM");
      const result = await run.exited;
      report("hung read");
      expect(result.signal, result.err).toBe("SIGTERM");
      expect(run.events.at(-1)).toMatchObject({ event: "done", interrupted: true, forced: true });
    } finally {
      if (writer !== undefined) closeSync(writer);
    }
    // The lock it left names a process that is gone: the next run takes it over.
    await nextRunCompletes(dir);
  });

  it.skipIf(process.platform !== "linux")(
    "a directory that refuses mkdir inside it (/proc) is an error (exit 7), not a loop at 100 % CPU",
    async () => {
      const r = await runCli(f.home, args("--maildir", "/proc/self/no-such/Mail"), { env: f.env });
      expect(r.code).toBe(7);
      expect(r.err).toMatch(/ENOENT.*mkdir '\/proc\/self\/no-such'/);
    },
  );
});
