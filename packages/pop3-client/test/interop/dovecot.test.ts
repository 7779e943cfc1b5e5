import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type LoginMechanism, type Pop3Client } from "../../src/index";

/**
 * The client against a real Dovecot, started by scripts/dovecot/dovecot.sh (CI does it). Skipped
 * when POP3_DOVECOT_HOST is unset, unless POP3_REQUIRE_PEERS=1 says a missing peer is a failure.
 */
const env = process.env;
const host = env["POP3_DOVECOT_HOST"];
const required = env["POP3_REQUIRE_PEERS"] === "1";
const script = fileURLToPath(new URL("../../../../scripts/dovecot/dovecot.sh", import.meta.url));

if (host === undefined && required) {
  describe("Dovecot interop", () => {
    it("needs a running Dovecot (POP3_REQUIRE_PEERS=1)", () => {
      expect.fail(
        "POP3_DOVECOT_HOST is not set: start scripts/dovecot/dovecot.sh and export its env",
      );
    });
  });
}

const port = Number(env["POP3_DOVECOT_PORT"] ?? 11110);
const tlsPort = Number(env["POP3_DOVECOT_TLS_PORT"] ?? 11995);
const ca = env["POP3_DOVECOT_CA"] ? readFileSync(env["POP3_DOVECOT_CA"], "utf8") : undefined;
const USER = "bob";
const PASSWORD = "bob-password";

/** Messages as Dovecot stores them; with CRLF line ends it serves them byte for byte. */
function fixtures(): Buffer[] {
  const big: string[] = ["From: big@example.org", "Subject: 30 MB", ""];
  let size = 0;
  for (let i = 0; size < 30 * 1024 * 1024; i++) {
    const line = `${i % 50 === 0 ? "." : ""}${"0123456789".repeat(7)}${String(i).padStart(5, "0")}`;
    big.push(line);
    size += line.length + 2;
  }
  return [
    Buffer.from("From: a@example.org\r\nSubject: dots\r\n\r\n.leading\r\n..two\r\n.\r\nend\r\n"),
    Buffer.concat([
      Buffer.from(
        "From: b@example.org\r\nSubject: 8bit\r\nContent-Type: text/plain; charset=latin1\r\n\r\n",
      ),
      Buffer.from([0xe9, 0xe8, 0xff, 0x80, 0x20, 0xc3, 0xa9, 0x0d, 0x0a]),
    ]),
    Buffer.from("From: c@example.org\r\nSubject: plain\r\n\r\nhello\r\n"),
    Buffer.from(`${big.join("\r\n")}\r\n`),
  ];
}

function deliver(user: string, message: Buffer): void {
  execFileSync("bash", [script, "deliver", user, "-"], {
    input: message,
    stdio: ["pipe", "ignore", "inherit"],
  });
}

const options = {
  host: host as string,
  port,
  tlsOptions: { ca: ca as string, servername: "localhost" },
};

/** `USER`'s maildrop holds exactly `messages` for the tests of one describe block. */
function withMaildrop(messages: readonly Buffer[]): void {
  beforeAll(() => {
    execFileSync("bash", [script, "reset-mail", USER], { stdio: "inherit" });
    for (const message of messages) deliver(USER, message);
  });
  afterAll(() => {
    execFileSync("bash", [script, "reset-mail", USER], { stdio: "inherit" });
  });
}

describe.skipIf(host === undefined)("pop3-client against Dovecot", () => {
  const messages = fixtures();
  withMaildrop(messages);

  it("upgrades with STLS and sees Dovecot's capabilities before and after", async () => {
    await using client = await connect(options);
    expect(client.secure).toBe(true);
    expect(client.greeting.text).toMatch(/Dovecot/);
    expect(client.capabilityList.has("STLS")).toBe(false);
    expect(client.capabilityList.saslMechanisms).toEqual(
      expect.arrayContaining(["PLAIN", "LOGIN", "CRAM-MD5"]),
    );
  });

  it("connects in cleartext only when allowed, and with implicit TLS", async () => {
    await using plain = await connect({ ...options, tls: "none" });
    expect(plain.secure).toBe(false);
    await plain.login({ user: USER, password: PASSWORD, mechanism: "USER" });
    await using implicit = await connect({ ...options, port: tlsPort, tls: "implicit" });
    expect(implicit.secure).toBe(true);
  });

  it.each<LoginMechanism>(["USER", "APOP", "PLAIN", "LOGIN", "CRAM-MD5"])(
    "logs in with %s",
    async (mechanism) => {
      await using client = await connect(options);
      await client.login({ user: USER, password: PASSWORD, mechanism });
      expect(client.state).toBe("TRANSACTION");
    },
  );

  it("fetches every message byte for byte, pipelined, with TOP and UIDL", async () => {
    await using client = await connect(options);
    await client.login({ user: USER, password: PASSWORD });
    expect(client.capabilityList.has("PIPELINING")).toBe(true);
    const listing = await client.list();
    expect(listing.map((l) => l.size)).toEqual(messages.map((m) => m.length));
    const fetched = await Promise.all(messages.map((_, i) => client.retrieveBytes(i + 1)));
    for (const [i, bytes] of fetched.entries()) {
      expect(bytes.equals(messages[i] as Buffer), `message ${i + 1}`).toBe(true);
    }
    const top = await (await client.top(1, 1)).bytes();
    expect(top.toString("latin1")).toBe("From: a@example.org\r\nSubject: dots\r\n\r\n.leading\r\n");
    const uids = await client.uidl();
    expect(uids).toHaveLength(messages.length);
    expect(await client.uidl(2)).toEqual(uids[1]);
  });

  it("DELE and QUIT remove a message, as a second session sees; a dropped session removes nothing", async () => {
    const first: Pop3Client = await connect(options);
    await first.login({ user: USER, password: PASSWORD });
    const before = await first.uidl();
    await first.delete(3);
    expect(await first.quit()).toMatchObject({ committed: true });

    const dropped = await connect(options);
    await dropped.login({ user: USER, password: PASSWORD });
    expect(await dropped.uidl()).toEqual(
      before.filter((u) => u.msg !== 3).map((u, i) => ({ msg: i + 1, uid: u.uid })),
    );
    await dropped.delete(1);
    dropped.close();

    await using second = await connect(options);
    await second.login({ user: USER, password: PASSWORD });
    expect(await second.stat()).toMatchObject({ count: messages.length - 1 });
    expect((await second.retrieveBytes(1)).equals(messages[0] as Buffer)).toBe(true);
  });

  it("reports a wrong password as -ERR [AUTH]", async () => {
    await using client = await connect(options);
    const error = await client
      .login({ user: USER, password: "wrong", mechanism: "PLAIN" })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: "POP3_SERVER_ERROR",
      responseCode: "AUTH",
      retryable: false,
    });
  });
});

describe.skipIf(host === undefined)(
  "pop3-client against Dovecot: a message without final newline",
  () => {
    // Same user as above: describe blocks of one file run one after the other.
    const noNewline = Buffer.from(
      "From: d@example.org\r\nSubject: no newline\r\n\r\nlast line, no CRLF",
    );
    const after = Buffer.from("From: e@example.org\r\nSubject: after\r\n\r\nfine\r\n");
    withMaildrop([noNewline, after]);

    it("is fetched with the CRLF Dovecot adds (LIST counts the file), with a warning", async () => {
      const warnings: Error[] = [];
      await using client = await connect({ ...options, onWarning: (w) => warnings.push(w) });
      await client.login({ user: USER, password: PASSWORD });
      expect(await client.list()).toEqual([
        { msg: 1, size: noNewline.length },
        { msg: 2, size: after.length },
      ]);
      const [first, second] = await Promise.all([client.retrieveBytes(1), client.retrieveBytes(2)]);
      expect(first?.equals(Buffer.concat([noNewline, Buffer.from("\r\n")]))).toBe(true);
      expect(second?.equals(after)).toBe(true);
      expect(warnings).toMatchObject([
        {
          code: "POP3_NO_FINAL_NEWLINE",
          expected: noNewline.length,
          received: noNewline.length + 2,
        },
      ]);
    });
  },
);
