import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { createTestServer } from "pop3-test-harness";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CLI, type Fixture, makeMessages, PASSWORD, runCli, startFixture, USER } from "./helpers";

let f: Fixture;
const messages = makeMessages(4, { large: [2], seed: 3 });
let uids: string[] = [];

beforeAll(async () => {
  f = await startFixture();
});
afterAll(async () => {
  await f.close();
});
beforeEach(() => {
  f.server.reset();
  uids = messages.map((m) => f.server.addMessage(USER, m).uid);
});

const cli = (...args: string[]) => runCli(f.home, [...args, f.url, ...f.trust], { env: f.env });

describe("capa, stat, list, uidl", () => {
  it("capa lists the capabilities after STLS (no STLS any more), as text and JSON", async () => {
    const text = await cli("capa");
    expect(text.code, text.err).toBe(0);
    expect(text.out.split("\n")).toEqual(
      expect.arrayContaining(["TOP", "UIDL", "PIPELINING", "SASL PLAIN LOGIN CRAM-MD5"]),
    );
    expect(text.out).not.toMatch(/^STLS$/m);
    const json = await cli("capa", "--json", "--login");
    expect(json.code, json.err).toBe(0);
    expect(JSON.parse(json.out)).toMatchObject({
      tls: true,
      apop: true,
      loggedIn: true,
      capabilities: expect.arrayContaining(["UIDL"]),
    });
  });

  it("stat, list and uidl, as text and JSON, all or one message", async () => {
    const total = messages.reduce((sum, m) => sum + m.length, 0);
    const stat = await cli("stat", "--json");
    expect(JSON.parse(stat.out)).toEqual({ count: 4, size: total });
    expect((await cli("stat")).out).toMatch(
      new RegExp(`^4 messages, ${total} octets \\(1\\.2 MiB\\)\n$`),
    );

    const list = await cli("list", "--json");
    expect(JSON.parse(list.out)).toEqual(messages.map((m, i) => ({ msg: i + 1, size: m.length })));
    expect((await cli("list")).out).toBe(
      `${messages.map((m, i) => `${i + 1}  ${m.length}`).join("\n")}\n`,
    );
    expect(JSON.parse((await cli("list", "3", "--json")).out)).toEqual({
      msg: 3,
      size: messages[2]?.length,
    });

    const uidl = await cli("uidl", "--json");
    expect(JSON.parse(uidl.out)).toEqual(uids.map((uid, i) => ({ msg: i + 1, uid })));
    expect((await cli("uidl", "2")).out).toBe(`2  ${uids[1]}\n`);
  });

  it("an empty maildrop", async () => {
    f.server.reset();
    expect((await cli("list")).out).toBe("(no messages)\n");
    expect(JSON.parse((await cli("uidl", "--json")).out)).toEqual([]);
  });
});

describe("retr and top", () => {
  it("retr writes the raw bytes to stdout, byte for byte (8-bit, dots, large)", async () => {
    for (const [i, message] of messages.entries()) {
      const r = await cli("retr", String(i + 1));
      expect(r.code, r.err).toBe(0);
      expect(r.stdout.equals(message), `message ${i + 1}`).toBe(true);
    }
  });

  it("retr -o writes a file; --json describes it", async () => {
    const file = join(f.home, "two.eml");
    const r = await cli("retr", "2", "-o", file, "--json");
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ msg: 2, size: messages[1]?.length, file });
    expect((await readFile(file)).equals(messages[1] as Buffer)).toBe(true);
  });

  it("top n [lines]", async () => {
    const header = (messages[0] as Buffer).toString("latin1").split("\r\n\r\n")[0];
    const r0 = await cli("top", "1");
    expect(r0.stdout.toString("latin1")).toBe(`${header}\r\n\r\n`);
    const r2 = await cli("top", "1", "2");
    expect(r2.stdout.toString("latin1")).toBe(
      `${header}\r\n\r\nFrom the start of this line, mbox must quote it.\r\n>From an already quoted line\r\n`,
    );
  });

  it("-ERR from the server: exit 4", async () => {
    const r = await cli("retr", "9");
    expect(r.code).toBe(4);
    expect(r.err).toMatch(/RETR 9 failed/);
    expect(r.out).toBe("");
  });
});

describe("dele", () => {
  it("deletes, then QUIT commits", async () => {
    const r = await cli("dele", "1", "3", "--json");
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ deleted: [1, 3], committed: true });
    expect(f.server.deletions.map((d) => d.uids)).toEqual([[uids[0], uids[2]]]);
    expect(f.server.messages(USER).map((m) => m.uid)).toEqual([uids[1], uids[3]]);
  });

  it("all or nothing: one refused DELE deletes none (exit 4)", async () => {
    const r = await cli("dele", "1", "7");
    expect(r.code).toBe(4);
    expect(r.err).toMatch(/nothing was deleted/);
    expect(f.server.deletions).toEqual([]);
    expect(f.server.messages(USER)).toHaveLength(4);
  });

  it("a failed UPDATE is reported: exit 4, committed false", async () => {
    f.server.faults.failCommits(1);
    const r = await cli("dele", "2", "--json");
    expect(r.code).toBe(4);
    expect(JSON.parse(r.out)).toMatchObject({ committed: false, deleted: [] });
    expect(f.server.messages(USER)).toHaveLength(4);
  });
});

describe("--trace", () => {
  it("prints the protocol to stderr with the password hidden, for every login mechanism", async () => {
    const r = await runCli(f.home, ["stat", f.url, ...f.trust, "--trace"], { env: f.env });
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/^C: STLS$/m);
    expect(r.err).toMatch(/^C: AUTH PLAIN \*\*\*$/m);
    expect(r.err).toMatch(/^S: \+OK/m);
    expect(r.err).not.toContain(PASSWORD);
    expect(r.err).not.toContain(Buffer.from(`\0${USER}\0${PASSWORD}`).toString("base64"));
    // Cleartext: CRAM-MD5 is preferred; and USER/PASS on a server that offers only that.
    const plain = await createTestServer({
      users: { [USER]: PASSWORD },
      server: { saslMechanisms: [], apop: false },
    });
    try {
      const r2 = await runCli(
        f.home,
        ["stat", `pop3://${USER}@127.0.0.1:${plain.port}`, "--tls", "none", "--trace"],
        {
          env: f.env,
        },
      );
      expect(r2.code, r2.err).toBe(0);
      expect(r2.err).toMatch(/^C: PASS \*\*\*$/m);
      expect(r2.err).not.toContain(PASSWORD);
      const r3 = await runCli(f.home, [
        "stat",
        f.url,
        "--tls",
        "none",
        "--trace",
        "--password",
        PASSWORD,
      ]);
      expect(r3.code, r3.err).toBe(0);
      expect(r3.err).toMatch(/^C: AUTH CRAM-MD5$/m);
      expect(r3.err.replace("--password is visible", "")).not.toContain(PASSWORD);
    } finally {
      await plain.close();
    }
  });
});

describe("cleartext", () => {
  it("a server without STLS: refused (exit 2) unless --allow-cleartext or --tls none", async () => {
    const plain = await createTestServer({ users: { [USER]: PASSWORD } });
    plain.addMessage(USER, "Subject: x\r\n\r\ny\r\n");
    try {
      const url = `pop3://${USER}@127.0.0.1:${plain.port}`;
      const refused = await runCli(f.home, ["stat", url], { env: f.env });
      expect(refused.code).toBe(2);
      expect(refused.err).toMatch(/does not offer STLS/);
      const allowed = await runCli(f.home, ["stat", url, "--allow-cleartext"], { env: f.env });
      expect(allowed.code, allowed.err).toBe(0);
      expect(allowed.err).toMatch(/offers no STLS: continuing without TLS/);
      const none = await runCli(f.home, ["stat", url, "--tls", "none"], { env: f.env });
      expect(none.code, none.err).toBe(0);
    } finally {
      await plain.close();
    }
  });
});

/** Runs the CLI on a pseudo-terminal (so stdout is a TTY), returning what the terminal showed. */
function onTerminal(args: readonly string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const command = [process.execPath, CLI, ...args].map((a) => `'${a}'`).join(" ");
    const child = spawn("script", ["-qec", command, "/dev/null"], {
      env: {
        PATH: process.env["PATH"] ?? "",
        HOME: f.home,
        NETRC: "/nonexistent",
        TERM: "xterm",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let text = "";
    child.stdout.on("data", (d: Buffer) => {
      text += d.toString();
    });
    child.on("error", reject);
    child.on("close", () => resolve(text));
  });
}

describe("colour", () => {
  it("on a terminal; never with NO_COLOR, --no-color, or into a pipe", async () => {
    const args = ["doctor", f.url, "--ca", f.caFile];
    const env = { POP3_PASSWORD: PASSWORD };
    expect(await onTerminal(args, env)).toContain("\u001b[");
    expect(await onTerminal(args, { ...env, NO_COLOR: "1" })).not.toContain("\u001b[");
    expect(await onTerminal([...args, "--no-color"], env)).not.toContain("\u001b[");
    const piped = await runCli(f.home, args, { env });
    expect(piped.code, piped.err).toBe(0);
    expect(piped.out + piped.err).not.toContain("\u001b[");
  });
});
