/**
 * Interop with curl's POP3 client (libcurl lib/pop3.c). curl writes a retrieved message to its
 * output exactly as the wire carried it minus the framing: CRLF line ends kept, dot-stuffing
 * undone, the final `.CRLF` removed. So every message is compared byte for byte with
 * wireForm(stored), with one documented exception: for an EMPTY message (`+OK 0 octets` then
 * `.CRLF`) curl prints a lone CRLF. That is curl's own code, not the wire: its end-of-body scanner
 * is primed with the CRLF of the `+OK` line, and on a full `\r\n.\r\n` match it always emits the
 * leading CRLF as body ("the CRLF at the start of the EOB ... is considered to be part of the
 * message"). The poplib and fetchmail tests, and LIST here, show the server sends 0 octets.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { startServer, type TestServer } from "../support";
import {
  byteDifference,
  caFiles,
  describePeer,
  type InteropMessage,
  probePeer,
  type RunResult,
  run,
  seed,
  tempDir,
  topForm,
} from "./peers";

const curlPeer = probePeer("curl", "curl", ["-V"], "apt-get install -y curl", (output) => {
  const protocols = /^Protocols: (.*)$/m.exec(output)?.[1]?.split(" ") ?? [];
  if (!protocols.includes("pop3") || !protocols.includes("pop3s")) {
    throw new Error(`curl lacks pop3/pop3s (protocols: ${protocols.join(" ")})`);
  }
  return output.split("\n")[0]?.split(" ").slice(0, 2).join(" ") ?? "curl";
});

/** What curl prints for a message: the wire form, except a lone CRLF for an empty one (above). */
function curlForm(message: InteropMessage): Buffer {
  return message.expected.length === 0 ? Buffer.from("\r\n") : message.expected;
}

function curl(args: readonly string[]): Promise<RunResult> {
  return run("curl", ["--silent", "--show-error", "--max-time", "120", ...args]);
}

function expectSuccess(result: RunResult): void {
  expect(result.code, `curl failed: ${result.stderr}`).toBe(0);
}

/** The protocol lines curl sent (`> ...` in -v output). */
function sent(result: RunResult): string[] {
  return result.stderr
    .split(/\r?\n/)
    .filter((line) => line.startsWith("> "))
    .map((line) => line.slice(2));
}

describePeer(curlPeer, "interop: curl pop3:// and pop3s://", () => {
  const dir = tempDir("curl");
  let ca: string;
  let wrongCa: string;
  let t: TestServer | undefined;
  let messages: InteropMessage[];
  const edge = () => messages.slice(0, -1);
  let fileCounter = 0;

  beforeAll(() => {
    ({ ca, wrongCa } = caFiles(dir.path));
  });
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });
  afterAll(() => dir.cleanup());

  async function server(overrides: Parameters<typeof startServer>[0] = {}): Promise<TestServer> {
    t = await startServer(overrides);
    messages = seed(t.store);
    return t;
  }

  /** Arguments that fetch messages `numbers` in one curl run (one connection), to files. */
  function retrieveArgs(base: string, numbers: number[]): { args: string[]; files: string[] } {
    const args: string[] = [];
    const files: string[] = [];
    for (const n of numbers) {
      const file = join(dir.path, `msg-${++fileCounter}`);
      args.push(`${base}/${n}`, "-o", file);
      files.push(file);
    }
    return { args, files };
  }

  function expectFiles(files: string[], numbers: number[]): void {
    for (const [i, n] of numbers.entries()) {
      const message = messages[n - 1] as InteropMessage;
      const got = readFileSync(files[i] as string);
      expect(byteDifference(got, curlForm(message)), `message ${n} (${message.name})`).toBe(
        undefined,
      );
    }
  }

  /** Waits (bounded) until the session curl ended has released the maildrop. */
  async function unlocked(): Promise<void> {
    for (let i = 0; t?.store.isLocked("alice") && i < 500; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(t?.store.isLocked("alice")).toBe(false);
  }

  it("retrieves every message (30 MB included) over one connection, byte for byte; picks CRAM-MD5 itself", async () => {
    const t = await server();
    const numbers = messages.map((_, i) => i + 1);
    const { args, files } = retrieveArgs(`pop3://127.0.0.1:${t.port}`, numbers);
    const result = await curl(["-v", "-u", "alice:wonderland", ...args]);
    expectSuccess(result);
    const commands = sent(result);
    expect(commands).toContain("AUTH CRAM-MD5");
    expect(commands.filter((c) => /^(AUTH|USER|APOP)\b/.test(c))).toHaveLength(1);
    expect(commands.filter((c) => c.startsWith("RETR "))).toEqual(numbers.map((n) => `RETR ${n}`));
    expectFiles(files, numbers);
    await unlocked();
    expect(t.store.messages("alice")).toHaveLength(messages.length);
    // The 30 MB message makes this one take seconds; the timeout is only there to catch a hang.
  }, 300_000);

  it("LIST (the mailbox URL), -X UIDL and -X 'TOP n m' answer as the store says", async () => {
    const t = await server();
    const base = `pop3://127.0.0.1:${t.port}`;
    const list = await curl(["-u", "alice:wonderland", `${base}/`]);
    expectSuccess(list);
    expect(list.stdout.toString("latin1")).toBe(
      messages.map((m, i) => `${i + 1} ${m.expected.length}\r\n`).join(""),
    );
    await unlocked();
    const uidl = await curl(["-u", "alice:wonderland", "-X", "UIDL", `${base}/`]);
    expectSuccess(uidl);
    expect(uidl.stdout.toString("latin1")).toBe(
      t.store
        .messages("alice")
        .map((m, i) => `${i + 1} ${m.uid}\r\n`)
        .join(""),
    );
    for (const [n, lines] of [
      [1, 2],
      [1, 0],
      [2, 5],
      [3, 1],
      [5, 1],
    ] as const) {
      await unlocked();
      const top = await curl(["-u", "alice:wonderland", "-X", `TOP ${n} ${lines}`, `${base}/`]);
      expectSuccess(top);
      const expected = topForm((messages[n - 1] as InteropMessage).expected, lines);
      expect(byteDifference(top.stdout, expected), `TOP ${n} ${lines}`).toBeUndefined();
    }
  }, 60_000);

  it("logs in with each method asked for: SASL PLAIN, LOGIN, CRAM-MD5, APOP, and USER/PASS", async () => {
    const t = await server();
    const base = `pop3://127.0.0.1:${t.port}`;
    const cases = [
      { options: "AUTH=PLAIN", command: /^AUTH PLAIN\b/ },
      { options: "AUTH=LOGIN", command: /^AUTH LOGIN\b/ },
      { options: "AUTH=CRAM-MD5", command: /^AUTH CRAM-MD5$/ },
      { options: "AUTH=+APOP", command: /^APOP alice [0-9a-f]{32}$/ },
    ];
    for (const { options, command } of cases) {
      await unlocked();
      const { args, files } = retrieveArgs(base, [1, 2]);
      const result = await curl([
        "-v",
        "-u",
        "alice:wonderland",
        "--login-options",
        options,
        ...args,
      ]);
      expectSuccess(result);
      expect(
        sent(result).filter((c) => command.test(c)),
        options,
      ).toHaveLength(1);
      expectFiles(files, [1, 2]);
    }
    await unlocked();
    const wrong = await curl(["-u", "alice:nope", "--login-options", "AUTH=PLAIN", `${base}/1`]);
    expect(wrong.code).toBe(67); // CURLE_LOGIN_DENIED
    await t.close();

    // With no SASL and no APOP offered, curl falls back to USER/PASS.
    const plainOnly = await server({ saslMechanisms: [], apop: false });
    const { args, files } = retrieveArgs(`pop3://127.0.0.1:${plainOnly.port}`, [1, 3]);
    const result = await curl(["-v", "-u", "alice:wonderland", ...args]);
    expectSuccess(result);
    expect(sent(result)).toContain("USER alice");
    expect(sent(result).filter((c) => c.startsWith("AUTH"))).toEqual([]);
    expectFiles(files, [1, 3]);
  }, 60_000);

  it("pop3s:// on the implicit-TLS port verifies the certificate (--cacert) and retrieves byte for byte", async () => {
    const t = await server();
    const resolve = ["--resolve", `localhost:${t.tlsPort}:127.0.0.1`];
    const numbers = edge().map((_, i) => i + 1);
    const { args, files } = retrieveArgs(`pop3s://localhost:${t.tlsPort}`, numbers);
    const result = await curl([
      "-v",
      "--cacert",
      ca,
      ...resolve,
      "-u",
      "alice:wonderland",
      ...args,
    ]);
    expectSuccess(result);
    expect(result.stderr).toMatch(/SSL connection using TLSv1\.[23]/);
    expect(sent(result)).not.toContain("STLS");
    expectFiles(files, numbers);

    await unlocked();
    const refused = await curl([
      "--cacert",
      wrongCa,
      ...resolve,
      "-u",
      "alice:wonderland",
      `pop3s://localhost:${t.tlsPort}/1`,
    ]);
    expect(refused.code).toBe(60); // CURLE_PEER_FAILED_VERIFICATION
  }, 60_000);

  it("--ssl-reqd on the plain port upgrades with STLS, verifies the certificate and retrieves byte for byte", async () => {
    const t = await server({ allowCleartextAuth: false });
    const resolve = ["--resolve", `localhost:${t.port}:127.0.0.1`];
    const numbers = edge().map((_, i) => i + 1);
    const { args, files } = retrieveArgs(`pop3://localhost:${t.port}`, numbers);
    const result = await curl([
      "-v",
      "--ssl-reqd",
      "--cacert",
      ca,
      ...resolve,
      "-u",
      "alice:wonderland",
      "--login-options",
      "AUTH=PLAIN",
      ...args,
    ]);
    expectSuccess(result);
    const commands = sent(result);
    expect(commands.indexOf("STLS")).toBeGreaterThanOrEqual(0);
    expect(commands.indexOf("STLS")).toBeLessThan(commands.findIndex((c) => c.startsWith("AUTH")));
    expect(result.stderr).toMatch(/SSL connection using TLSv1\.[23]/);
    expectFiles(files, numbers);

    await unlocked();
    const refused = await curl([
      "--ssl-reqd",
      "--cacert",
      wrongCa,
      ...resolve,
      "-u",
      "alice:wonderland",
      `pop3://localhost:${t.port}/1`,
    ]);
    expect(refused.code).toBe(60);
    expect(t.server.stats().authFailures).toBe(0);
  }, 60_000);

  it("-X 'DELE n' -I deletes exactly that message once curl QUITs", async () => {
    const t = await server();
    const uids = t.store.messages("alice").map((m) => m.uid);
    const base = `pop3://127.0.0.1:${t.port}`;
    const dele = await curl(["-v", "-u", "alice:wonderland", "-X", "DELE 1", "-I", `${base}/`]);
    expectSuccess(dele);
    expect(sent(dele)).toContain("DELE 1");
    await unlocked();
    expect(t.store.messages("alice").map((m) => m.uid)).toEqual(uids.slice(1));
    // curl -v does not echo its QUIT, but the server saw it: the deletion was committed.
    expect(t.server.stats()).toMatchObject({ updates: 1, messagesDeleted: 1 });

    const missing = await curl([
      "-u",
      "alice:wonderland",
      "-X",
      `DELE ${messages.length}9`,
      "-I",
      `${base}/`,
    ]);
    expect(missing.code).not.toBe(0);
    await unlocked();
    const left = t.store.messages("alice");
    expect(left.map((m) => m.uid)).toEqual(uids.slice(1));
    for (const [i, message] of messages.slice(1).entries()) {
      expect(byteDifference(left[i]?.bytes ?? new Uint8Array(), message.stored)).toBeUndefined();
    }
  }, 60_000);
});
