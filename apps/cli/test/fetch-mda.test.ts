import { execFileSync } from "node:child_process";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type Fixture,
  makeMessages,
  PASSWORD,
  removeDir,
  runCli,
  serverIdle,
  startFixture,
  tempDir,
  USER,
} from "./helpers";

/**
 * `fetch --mda`: each message piped to a real program (shell scripts here, and procmail when it
 * is installed), counted as stored only when the program read it all and exited 0.
 */

let f: Fixture;
const messages = makeMessages(5, { large: [3], seed: 9 });
let uids: string[] = [];
let dir: string;

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
  dir = await tempDir("pop3-mda-");
});
afterEach(async () => {
  await serverIdle(f.server);
  await removeDir(dir);
});

const fetch = (...args: string[]) =>
  runCli(f.home, ["fetch", f.url, ...f.trust, "--state", join(dir, "state.json"), ...args], {
    env: { ...f.env, POP3_URL: `pop3://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:1` },
  });
const fetchPlain = (...args: string[]) => fetch("--tls", "none", ...args);
const events = (out: string) =>
  out
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
const lf = (bytes: Buffer) =>
  Buffer.from(bytes.toString("latin1").replace(/\r\n/g, "\n"), "latin1");
const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

/** A script MDA: the message into DIR/out/<uidl>, its environment into DIR/env/<uidl>. */
async function recorder(extra = ""): Promise<string> {
  await mkdir(join(dir, "out"));
  await mkdir(join(dir, "env"));
  const script = join(dir, "mda.sh");
  await writeFile(
    script,
    `#!/bin/sh\n${extra}\nenv > ${quote(join(dir, "env"))}/"$POP3_FETCH_UIDL"\ncat > ${quote(join(dir, "out"))}/"$POP3_FETCH_UIDL.tmp" && mv ${quote(join(dir, "out"))}/"$POP3_FETCH_UIDL.tmp" ${quote(join(dir, "out"))}/"$POP3_FETCH_UIDL"\n`,
    { mode: 0o755 },
  );
  return script;
}

async function delivered(): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const name of await readdir(join(dir, "out"))) {
    if (!name.endsWith(".tmp")) out.set(name, await readFile(join(dir, "out", name)));
  }
  return out;
}

/** The process is gone (or a zombie nobody reaps: dead all the same), within a few seconds. */
async function ended(pid: number): Promise<boolean> {
  for (let i = 0; i < 250; i++) {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
    if (stat === undefined || /^\d+ \(.*\) Z/.test(stat)) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

describe("fetch --mda", () => {
  it("pipes each message with LF line ends; exit 0 counts as stored, --delete then deletes it; nothing twice", async () => {
    const mda = await recorder();
    const r = await fetch("--mda", mda, "--delete", "--json");
    expect(r.code, r.err).toBe(0);
    const got = await delivered();
    expect([...got.keys()].sort()).toEqual([...uids].sort());
    for (const [i, uid] of uids.entries()) {
      expect(got.get(uid)?.equals(lf(messages[i] as Buffer)), `message ${i + 1}`).toBe(true);
    }
    const stored = events(r.out).filter((e) => e["event"] === "stored");
    // Sizes are the octets the server sent.
    expect(stored.map((e) => e["size"])).toEqual(messages.map((m) => m.length));
    expect(stored.every((e) => e["location"] === "mda")).toBe(true);
    expect(events(r.out).at(-1)).toMatchObject({ stored: 5, deleted: 5, committed: true });
    expect(f.server.messages(USER)).toEqual([]);
    expect(r.out).not.toContain("\r");

    // New mail: only that is delivered.
    const late = Buffer.from("Subject: late\r\n\r\nhi\r\n");
    const lateUid = f.server.addMessage(USER, late).uid;
    const again = await fetch("--mda", mda, "--json");
    expect(again.code, again.err).toBe(0);
    expect(events(again.out).filter((e) => e["event"] === "stored")).toEqual([
      expect.objectContaining({ uid: lateUid }),
    ]);
    expect((await delivered()).get(lateUid)?.toString()).toBe("Subject: late\n\nhi\n");
  });

  it("gives the MDA nothing secret: no password, no POP3_* settings, only its own POP3_FETCH_*", async () => {
    const mda = await recorder();
    const r = await fetch("--mda", mda, "--limit", "1");
    expect(r.code, r.err).toBe(0);
    const env = await readFile(join(dir, "env", uids[0] as string), "utf8");
    expect(env).not.toContain(PASSWORD);
    expect(env).not.toContain(encodeURIComponent(PASSWORD));
    expect(env).not.toMatch(/^POP3_(PASSWORD|URL|USER|HOST)=/m);
    expect(env).toMatch(new RegExp(`^POP3_FETCH_UIDL=${uids[0]}$`, "m"));
    expect(env).toMatch(new RegExp(`^POP3_FETCH_ACCOUNT=${USER}@127\\.0\\.0\\.1$`, "m"));
    expect(env).toMatch(new RegExp(`^POP3_FETCH_SIZE=${messages[0]?.length}$`, "m"));
    expect(env).toMatch(/^HOME=/m);
  });

  it("a non-zero exit or a signal is not stored: reported, not deleted, delivered by the next run", async () => {
    // Message 2 makes the MDA exit 75 (EX_TEMPFAIL), message 3 kills it with SIGTERM.
    const mda = await recorder(
      `[ "$POP3_FETCH_UIDL" = ${quote(uids[1] as string)} ] && { echo "mailbox over quota" >&2; exit 75; }\n[ "$POP3_FETCH_UIDL" = ${quote(uids[2] as string)} ] && kill -TERM $$`,
    );
    const r = await fetch("--mda", mda, "--delete", "--json");
    expect(r.code).toBe(6);
    const failed = events(r.out).filter((e) => e["event"] === "failed");
    expect(failed).toEqual([
      expect.objectContaining({
        msg: 2,
        code: "MDA_FAILED",
        error: expect.stringMatching(/status 75\b.*: mailbox over quota/),
      }),
      // The script (run by /bin/sh -c) was killed; the shell reports it as status 128 + 15.
      expect.objectContaining({
        msg: 3,
        code: "MDA_FAILED",
        error: expect.stringMatching(/status 143 \(.*SIGTERM/),
      }),
    ]);
    expect(events(r.out).at(-1)).toMatchObject({ stored: 3, failed: 2, deleted: 3 });
    expect(f.server.messages(USER).map((m) => m.uid)).toEqual([uids[1], uids[2]]);

    // The same MDA without its failures.
    await writeFile(mda, (await readFile(mda, "utf8")).replace(/^\[ .*$/gm, ""));
    const again = await fetch("--mda", mda, "--delete", "--json");
    expect(again.code, again.err).toBe(0);
    expect(events(again.out).at(-1)).toMatchObject({ stored: 2, deleted: 2 });
    expect(f.server.messages(USER)).toEqual([]);
    expect((await delivered()).size).toBe(5);
  });

  it("an MDA killed by a signal has not delivered", async () => {
    const r = await fetch("--mda", "kill -USR1 $$", "--limit", "1", "--delete", "--json");
    expect(r.code).toBe(6);
    expect(events(r.out).filter((e) => e["event"] === "failed")).toEqual([
      expect.objectContaining({
        msg: 1,
        code: "MDA_SIGNAL",
        error: expect.stringMatching(/SIGUSR1/),
      }),
    ]);
    expect(f.server.messages(USER)).toHaveLength(5);
  });

  it("an MDA that stops reading early has not delivered the message, even if it exits 0", async () => {
    // Only the large message (4) outgrows the pipe: the MDA exits before taking it all.
    const mda = await recorder(
      `[ "$POP3_FETCH_UIDL" = ${quote(uids[3] as string)} ] && { head -c 1000 > /dev/null; exit 0; }`,
    );
    const r = await fetch("--mda", mda, "--delete", "--json");
    expect(r.code).toBe(6);
    expect(events(r.out).filter((e) => e["event"] === "failed")).toEqual([
      expect.objectContaining({
        msg: 4,
        code: "MDA_INPUT",
        error: expect.stringMatching(/before reading the whole message/),
      }),
    ]);
    expect(f.server.messages(USER).map((m) => m.uid)).toEqual([uids[3]]);
  });

  it("a hung MDA is killed with its children after --mda-timeout; the fetch goes on", async () => {
    const mda = await recorder(
      `[ "$POP3_FETCH_UIDL" = ${quote(uids[0] as string)} ] && { sleep 600 & echo $! > ${quote(join(dir, "sleep.pid"))}; wait; }`,
    );
    const r = await fetch("--mda", mda, "--mda-timeout", "1", "--json");
    expect(r.code).toBe(6);
    expect(events(r.out).filter((e) => e["event"] === "failed")).toEqual([
      expect.objectContaining({ msg: 1, code: "MDA_TIMEOUT" }),
    ]);
    expect(events(r.out).at(-1)).toMatchObject({ stored: 4, failed: 1 });
    // The MDA's own child went with it (the whole process group was killed).
    const pid = Number(await readFile(join(dir, "sleep.pid"), "utf8"));
    expect(await ended(pid)).toBe(true);
  });

  it("a size that differs from LIST: the MDA is killed before the end of its input and delivers nothing", async () => {
    const mda = await recorder();
    f.server.faults.add({ on: "LIST", times: 1, fault: { type: "wrong-size", delta: -3 } });
    const r = await fetchPlain("--mda", mda, "--delete", "--json");
    expect(r.code).toBe(6);
    const failed = events(r.out).filter((e) => e["event"] === "failed");
    expect(failed).toHaveLength(5);
    for (const e of failed) expect(e).toMatchObject({ code: "POP3_TRUNCATED" });
    expect((await delivered()).size).toBe(0);
    expect(f.server.messages(USER)).toHaveLength(5);
  });

  it("usage: --mda is a destination of its own", async () => {
    const both = await fetch("--mda", "cat", "--maildir", join(dir, "M"));
    expect(both.code).toBe(1);
    expect(both.err).toMatch(
      /exactly one destination: --maildir DIR, --mbox FILE or --mda COMMAND/,
    );
    const empty = await fetch("--mda", " ");
    expect(empty.code).toBe(1);
  });
});

const procmail = (() => {
  try {
    execFileSync("procmail", ["-v"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

// CI (POP3_REQUIRE_PEERS=1, where test-all installs procmail) runs this suite; elsewhere it may skip.
const requirePeers = process.env["POP3_REQUIRE_PEERS"] === "1";

describe.skipIf(!procmail && !requirePeers)("fetch --mda procmail", () => {
  it.runIf(!procmail)("needs procmail (POP3_REQUIRE_PEERS=1)", () => {
    expect.fail("procmail is not installed: scripts/test-all.sh installs it with apt-get");
  });

  it("procmail delivers each message into a Maildir; a recipe that cannot deliver keeps it on the server", async () => {
    const maildir = join(dir, "Maildir");
    const rc = join(dir, "procmailrc");
    await writeFile(rc, `LOGFILE=${join(dir, "procmail.log")}\n:0\n${maildir}/\n`);
    const r = await fetch("--mda", `procmail -m ${quote(rc)}`, "--delete", "--json");
    expect(
      r.code,
      `${r.err}\n${await readFile(join(dir, "procmail.log"), "utf8").catch(() => "")}`,
    ).toBe(0);
    const files = await readdir(join(maildir, "new"));
    expect(files).toHaveLength(5);
    const contents = await Promise.all(files.map((n) => readFile(join(maildir, "new", n))));
    // procmail (without -f) adds no From_ line to a Maildir message: the bytes are ours, in LF.
    const want = messages.map((m) => lf(m).toString("latin1")).sort();
    expect(contents.map((c) => c.toString("latin1")).sort()).toEqual(want);
    expect(f.server.messages(USER)).toEqual([]);

    // A Maildir procmail cannot write: it fails, and the message stays on the server.
    f.server.addMessage(USER, messages[0] as Buffer);
    await writeFile(rc, `LOGFILE=${join(dir, "procmail.log")}\n:0\n/proc/no-such/Maildir/\n`);
    const failing = await fetch("--mda", `procmail -m ${quote(rc)}`, "--delete", "--json");
    expect(failing.code).toBe(6);
    expect(events(failing.out).filter((e) => e["event"] === "failed")).toEqual([
      expect.objectContaining({ code: "MDA_FAILED" }),
    ]);
    expect(f.server.messages(USER)).toHaveLength(1);
  });
});
