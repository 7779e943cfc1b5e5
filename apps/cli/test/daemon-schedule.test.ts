import { ClientError, ServerReplyError } from "pop3-client";
import { describe, expect, it } from "vitest";
import { runDaemon } from "../src/daemon/loop";
import {
  classify,
  MAX_BACKOFF_MS,
  nextPoll,
  type Outcome,
  type PollResult,
} from "../src/daemon/schedule";
import { authError, CliError, EXIT, toCliError } from "../src/errors";

/** The daemon's schedule as pure functions, and its loop with a fetch that is a function. */

const policy = { intervalMs: 60_000, maxBackoffMs: MAX_BACKOFF_MS };

/** A login refused with `code`, as openSession reports it (a CliError whose cause is the -ERR). */
function refused(code: string): PollResult {
  const problem = authError(new ServerReplyError("PASS", { code, text: "not now" }));
  return {
    exitCode: problem.exitCode,
    error: { message: problem.message, code: problem.code, cause: problem },
  };
}

describe("classify", () => {
  it("reads the response code through the error's causes", () => {
    expect(classify(refused("LOGIN-DELAY"))).toBe("login-delay");
    expect(classify(refused("IN-USE"))).toBe("in-use");
    expect(classify(refused("SYS/TEMP"))).toBe("sys-temp");
    expect(classify(refused("AUTH"))).toBe("auth");
  });

  it("else the exit status", () => {
    const connection = toCliError(new ClientError("POP3_CONNECTION", "refused"));
    expect(
      classify({
        exitCode: connection.exitCode,
        error: { message: "x", code: "y", cause: connection },
      }),
    ).toBe("connection");
    const cases: [PollResult["exitCode"], Outcome][] = [
      [EXIT.OK, "ok"],
      [EXIT.PARTIAL, "partial"],
      [EXIT.INTERRUPTED, "interrupted"],
      [EXIT.SERVER, "failed"],
      [EXIT.LOCAL_IO, "failed"],
      [EXIT.USAGE, "failed"],
    ];
    for (const [exitCode, outcome] of cases) expect(classify({ exitCode })).toBe(outcome);
    const error = new CliError(EXIT.SERVER, "x");
    expect(
      classify({ exitCode: EXIT.SERVER, error: { message: "x", code: "SERVER", cause: error } }),
    ).toBe("failed");
  });
});

describe("nextPoll", () => {
  it("after a success: the interval, failures reset", () => {
    expect(nextPoll(5, "ok", policy)).toEqual({ failures: 0, delayMs: 60_000 });
    expect(nextPoll(2, "partial", policy)).toEqual({ failures: 0, delayMs: 60_000 });
  });

  it("after failures in a row: the interval doubled each time, capped at an hour", () => {
    const delays: number[] = [];
    let failures = 0;
    for (let i = 0; i < 8; i++) {
      const next = nextPoll(failures, i % 2 === 0 ? "in-use" : "connection", policy);
      failures = next.failures;
      delays.push(next.delayMs / 1000);
    }
    expect(delays).toEqual([120, 240, 480, 960, 1920, 3600, 3600, 3600]);
    expect(failures).toBe(8);
    // ...and one success starts over.
    expect(nextPoll(failures, "ok", policy)).toEqual({ failures: 0, delayMs: 60_000 });
    expect(nextPoll(0, "sys-temp", policy).delayMs).toBe(120_000);
  });

  it("the cap never cuts below the interval", () => {
    const long = { intervalMs: 7_200_000, maxBackoffMs: MAX_BACKOFF_MS };
    expect(nextPoll(0, "in-use", long).delayMs).toBe(7_200_000);
    expect(nextPoll(3, "auth", long).delayMs).toBe(7_200_000);
  });

  it("honours the server's LOGIN-DELAY, after a success too", () => {
    // [LOGIN-DELAY] with LOGIN-DELAY 900 announced: at least 900 s.
    expect(nextPoll(0, "login-delay", policy, 900)).toEqual({ failures: 1, delayMs: 900_000 });
    // Backoff beyond it once it is longer.
    expect(nextPoll(4, "login-delay", policy, 900).delayMs).toBe(1_920_000);
    // Unknown LOGIN-DELAY: the backoff alone.
    expect(nextPoll(0, "login-delay", policy).delayMs).toBe(120_000);
    // A success with LOGIN-DELAY 900 and a 60 s interval: the next login is 900 s later.
    expect(nextPoll(0, "ok", policy, 900)).toEqual({ failures: 0, delayMs: 900_000 });
  });
});

describe("runDaemon", () => {
  it("polls each account, backs off per account, stops when asked (between polls)", async () => {
    const stop = new AbortController();
    const polls: string[] = [];
    const records: {
      account: string;
      outcome: string;
      failures: number;
      next: number | undefined;
    }[] = [];
    let calls = 0;
    await runDaemon({
      accounts: [{ name: "a" }, { name: "b" }],
      fetchOnce: async (account) => {
        calls += 1;
        polls.push(account.name);
        if (calls === 6) stop.abort();
        // b is always in use; a always works.
        return account.name === "b" ? refused("IN-USE") : { exitCode: EXIT.OK };
      },
      // 1 ms interval: b's backoff (2, 4, 8 ms) makes it come round less often than a.
      policy: { intervalMs: 1, maxBackoffMs: 1000 },
      stop: stop.signal,
      onPoll: (r) =>
        records.push({
          account: r.account,
          outcome: r.outcome,
          failures: r.failures,
          next: r.nextPollMs,
        }),
    });
    expect(polls.slice(0, 2)).toEqual(["a", "b"]);
    expect(calls).toBe(6);
    const b = records.filter((r) => r.account === "b");
    expect(b.map((r) => r.failures)).toEqual(b.map((_, i) => i + 1));
    expect(b.slice(0, -1).map((r) => r.next)).toEqual(b.slice(0, -1).map((_, i) => 2 ** (i + 1)));
    expect(records.filter((r) => r.account === "a").every((r) => r.outcome === "ok")).toBe(true);
    // The poll during which the stop came says so: no next poll.
    expect(records.at(-1)?.next).toBeUndefined();
  });

  it("an interrupted poll ends the loop; an aborted stop before the first poll polls nothing", async () => {
    let calls = 0;
    await runDaemon({
      accounts: [{ name: "a" }],
      fetchOnce: async () => {
        calls += 1;
        return { exitCode: EXIT.INTERRUPTED };
      },
      policy: { intervalMs: 1, maxBackoffMs: 1 },
      stop: new AbortController().signal,
      onPoll: () => {},
    });
    expect(calls).toBe(1);
    await runDaemon({
      accounts: [{ name: "a" }],
      fetchOnce: async () => {
        calls += 1;
        return { exitCode: EXIT.OK };
      },
      policy: { intervalMs: 1, maxBackoffMs: 1 },
      stop: AbortSignal.abort(),
      onPoll: () => {},
    });
    expect(calls).toBe(1);
  });
});
