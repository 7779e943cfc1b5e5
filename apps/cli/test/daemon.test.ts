import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { connect, type Pop3Client } from "pop3-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CLI,
  cleanEnv,
  type Fixture,
  type KillableRun,
  PASSWORD,
  readMaildir,
  startCli,
  startFixture,
  USER,
} from "./helpers";

/**
 * `pop3 fetch --daemon` as a process against the harness's real server: polls, backoff on
 * [IN-USE], [SYS/TEMP] and [LOGIN-DELAY] (and the server's LOGIN-DELAY honoured), SIGTERM
 * between and during polls. Delays are asserted as the schedule the daemon reports, never as
 * measured time.
 */

type Event = Record<string, unknown>;
const polls = (run: KillableRun) => run.events.filter((e) => e["event"] === "poll");

/** A logged-in session that holds alice's maildrop, so another login gets [IN-USE]. */
async function holdMaildrop(f: Fixture): Promise<Pop3Client> {
  const client = await connect({
    host: "127.0.0.1",
    port: f.server.port,
    tlsOptions: { ca: f.server.certificate?.cert ?? "" },
  });
  await client.login({ user: USER, password: PASSWORD });
  return client;
}

describe("fetch --daemon", () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await startFixture();
  });
  afterAll(async () => {
    await f.close();
  });

  it("polls every interval, fetches what came in between, and ends on SIGTERM between polls (exit 0)", async () => {
    f.server.reset();
    f.server.addMessage(USER, "Subject: first\r\n\r\none\r\n");
    const maildir = join(f.home, "daemon-mail");
    const run = startCli(
      f.home,
      ["fetch", f.url, ...f.trust, "--maildir", maildir, "--interval", "1", "--json"],
      {
        env: f.env,
        onEvent: (event, r) => {
          if (event["event"] !== "poll") return;
          if (polls(r).length === 1) f.server.addMessage(USER, "Subject: second\r\n\r\ntwo\r\n");
          // The second message may land in any later poll (the test process adds it).
          const stored = polls(r).reduce((sum, p) => sum + Number(p["stored"]), 0);
          if (stored === 2) r.child.kill("SIGTERM");
        },
      },
    );
    const exit = await run.exited;
    expect(exit.code, exit.err).toBe(0);
    const all = polls(run);
    expect(all.length).toBeGreaterThanOrEqual(2);
    expect(all[0]).toMatchObject({ outcome: "ok", stored: 1, failures: 0, nextPollSeconds: 1 });
    for (const poll of all.slice(1)) {
      expect(poll).toMatchObject({ outcome: "ok", exitCode: 0, failures: 0, nextPollSeconds: 1 });
    }
    expect(run.events.at(-1)).toEqual({ event: "stopped", signal: "SIGTERM" });
    expect(exit.err).toMatch(/^polling alice@127\.0\.0\.1 every 1 s/m);
    const { files } = await readMaildir(maildir);
    expect([...files.values()].map((b) => b.toString()).sort()).toEqual([
      "Subject: first\r\n\r\none\r\n",
      "Subject: second\r\n\r\ntwo\r\n",
    ]);
  });

  it("backs off on [IN-USE] (2 s after one failure with a 1 s interval), back to the interval once it works", async () => {
    f.server.reset();
    const maildir = join(f.home, "in-use-mail");
    const held = await holdMaildrop(f);
    let released = false;
    const run = startCli(
      f.home,
      ["fetch", f.url, ...f.trust, "--maildir", maildir, "--daemon", "--interval", "1", "--json"],
      {
        env: f.env,
        onEvent: (event, r) => {
          if (event["event"] !== "poll") return;
          if (event["outcome"] === "in-use" && !released) {
            released = true;
            void held.quit();
          }
          if (event["outcome"] === "ok") r.child.kill("SIGTERM");
        },
      },
    );
    const exit = await run.exited;
    held.close();
    expect(exit.code, exit.err).toBe(0);
    const [first, second] = polls(run);
    expect(first).toMatchObject({
      outcome: "in-use",
      exitCode: 3,
      failures: 1,
      nextPollSeconds: 2,
      error: expect.stringContaining("[IN-USE]"),
    });
    expect(second).toMatchObject({ outcome: "ok", failures: 0, nextPollSeconds: 1 });
  });

  it("[SYS/TEMP] backs off too; the log is one line per poll without --json", async () => {
    f.server.reset();
    f.server.faults.add({
      on: "PASS",
      times: 1,
      fault: { type: "error", code: "SYS/TEMP", text: "disk trouble" },
    });
    const maildir = join(f.home, "sys-temp-mail");
    const child = spawn(
      process.execPath,
      [
        CLI,
        "fetch",
        f.url,
        "--tls",
        "none",
        "--mechanism",
        "USER",
        "--maildir",
        maildir,
        "--interval",
        "1",
      ],
      { env: cleanEnv(f.home, f.env), stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (/: ok, /.test(out)) child.kill("SIGTERM");
    });
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    f.server.faults.clear();
    expect(code, err).toBe(0);
    expect(err).toMatch(
      /^warning: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ alice@127\.0\.0\.1: sys-temp \(login failed: PASS \*\*\* failed: \[SYS\/TEMP\] disk trouble\); failure 1 in a row, next poll in 2 s$/m,
    );
    expect(out).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ alice@127\.0\.0\.1: ok, 0 stored, 0 deleted; next poll in 1 s$/m,
    );
    expect(err).toMatch(/^stopped \(SIGTERM\)$/m);
    // One line per poll: the failure is not reported a second time.
    expect(err.match(/disk trouble/g)).toHaveLength(1);
  });

  it("a connection error backs off too", async () => {
    const run = startCli(
      f.home,
      [
        "fetch",
        "pop3://alice@127.0.0.1:1",
        "--maildir",
        join(f.home, "nowhere"),
        "--interval",
        "1",
        "--json",
      ],
      {
        env: f.env,
        onEvent: (event, r) => {
          if (event["event"] === "poll") r.child.kill("SIGTERM");
        },
      },
    );
    const exit = await run.exited;
    expect(exit.code, exit.err).toBe(0);
    expect(polls(run)).toEqual([
      expect.objectContaining({
        outcome: "connection",
        exitCode: 2,
        code: "POP3_CONNECTION",
        failures: 1,
        nextPollSeconds: 2,
      }),
    ]);
  });

  it("SIGTERM during a poll: the fetch stops as fetch does (grace, then cut), then the daemon ends", async () => {
    f.server.reset();
    f.server.addMessage(USER, "Subject: never arrives\r\n\r\nstalled\r\n");
    f.server.faults.add({ on: "RETR", fault: { type: "stall" } });
    const maildir = join(f.home, "stalled-mail");
    const run = startCli(
      f.home,
      ["fetch", f.url, "--tls", "none", "--maildir", maildir, "--interval", "1", "--json"],
      {
        env: f.env,
        onEvent: (event, r) => {
          if (event["event"] === "start") r.child.kill("SIGTERM");
        },
      },
    );
    const exit = await run.exited;
    f.server.faults.clear();
    expect(exit.code, exit.err).toBe(0);
    const done = run.events.find((e: Event) => e["event"] === "done");
    expect(done).toMatchObject({ interrupted: true, stored: 0 });
    expect(polls(run)).toEqual([
      expect.objectContaining({ outcome: "interrupted", exitCode: 130, nextPollSeconds: null }),
    ]);
    expect(run.events.at(-1)).toEqual({ event: "stopped", signal: "SIGTERM" });
  });
});

describe("fetch --daemon and the server's LOGIN-DELAY", () => {
  let f: Fixture;
  beforeAll(async () => {
    // At most one login of a user every 5 s, enforced by the server.
    f = await startFixture({ server: { loginDelaySeconds: 5 } });
  });
  afterAll(async () => {
    await f.close();
  });

  it("[LOGIN-DELAY] waits the announced 5 s (not the 2 s backoff); after a success too", async () => {
    f.server.addMessage(USER, "Subject: hello\r\n\r\nhi\r\n");
    // A login just now: the daemon's first login comes too soon.
    const early = await holdMaildrop(f);
    await early.quit();
    const configFile = join(f.home, "delay.json");
    await writeFile(
      configFile,
      JSON.stringify({
        accounts: {
          main: { url: f.url, ca: f.caFile, passwordEnv: "MAIN_PW", maildir: "delay-mail" },
        },
      }),
    );
    const run = startCli(f.home, ["fetch", "--config", configFile, "--interval", "1", "--json"], {
      env: { MAIN_PW: PASSWORD },
      onEvent: (event, r) => {
        if (event["event"] === "poll" && polls(r).length === 3) r.child.kill("SIGTERM");
      },
    });
    const exit = await run.exited;
    expect(exit.code, exit.err).toBe(0);
    expect(
      polls(run).map((p) => [
        p["account"],
        p["outcome"],
        p["loginDelaySeconds"],
        p["nextPollSeconds"],
      ]),
    ).toEqual([
      ["main", "login-delay", 5, 5],
      // Came back after 5 s: the server let it in. Then it keeps to 5 s, not the 1 s interval.
      ["main", "ok", 5, 5],
      ["main", "ok", 5, 5],
    ]);
    const { files } = await readMaildir(join(f.home, "delay-mail"));
    expect([...files.values()].map((b) => b.toString())).toEqual(["Subject: hello\r\n\r\nhi\r\n"]);
  });
});
