import { describe, expect, it } from "vitest";
import { LocalProtocolError, RemoteProtocolError } from "../../src/errors";
import { Secret } from "../../src/secret";
import { type ClientEvent, ClientSession } from "../../src/session/client-session";
import { NEED_DATA } from "../../src/session/signals";
import { ascii, concat, text } from "../helpers";

function drain(session: ClientSession): ClientEvent[] {
  const events: ClientEvent[] = [];
  for (;;) {
    const event = session.nextEvent();
    if (event === NEED_DATA) return events;
    events.push(event);
  }
}

/** Body bytes joined per command, other events as they are. */
function summarize(events: readonly ClientEvent[]): unknown[] {
  const out: unknown[] = [];
  let body: Uint8Array[] = [];
  for (const e of events) {
    if (e.type === "body-data") body.push(e.data.slice());
    else if (e.type === "body-end") {
      out.push({ body: text(concat(body)), size: e.size });
      body = [];
    } else if (e.type === "greeting") out.push(e.greeting);
    else if (e.type === "listing") out.push({ listing: e.lines });
    else if (e.type === "reply" || e.type === "body-start") out.push(e.reply);
    else out.push(e);
  }
  return out;
}

function greeted(options: ConstructorParameters<typeof ClientSession>[0] = {}): ClientSession {
  const session = new ClientSession(options);
  session.receiveData(ascii("+OK ready\r\n"));
  expect(drain(session)).toHaveLength(1);
  return session;
}

const MESSAGE_1 = "From: a\r\n\r\n.hidden dot\r\n";
const MESSAGE_2 = "From: b\r\n\r\nbye\r\n";

describe("ClientSession", () => {
  it("follows the RFC 1939 §10 example session, pipelined, in chunks of any size", () => {
    const greeting = "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n";
    const server = [
      "+OK mrose's maildrop has 2 messages (320 octets)\r\n",
      "+OK 2 320\r\n",
      "+OK 2 messages (320 octets)\r\n1 120\r\n2 200\r\n.\r\n",
      "+OK 120 octets\r\nFrom: a\r\n\r\n..hidden dot\r\n.\r\n",
      "+OK message 1 deleted\r\n",
      `+OK 200 octets\r\n${MESSAGE_2}.\r\n`,
      "+OK message 2 deleted\r\n",
      "+OK dewey POP3 server signing off (maildrop empty)\r\n",
    ].join("");
    const wire = ascii(server);
    for (const size of [1, 2, 3, 7, 64, wire.length]) {
      const session = new ClientSession();
      session.receiveData(ascii(greeting));
      const events: ClientEvent[] = drain(session);
      const sent = [
        session.send({ name: "APOP", user: "mrose", digest: "c4c9334bac560ecc979e58001b3e22fb" }),
        session.send({ name: "STAT" }),
        session.send({ name: "LIST" }),
        session.send({ name: "RETR", msg: 1 }),
        session.send({ name: "DELE", msg: 1 }),
        session.send({ name: "RETR", msg: 2 }),
        session.send({ name: "DELE", msg: 2 }),
        session.send({ name: "QUIT" }),
      ];
      expect(text(concat(sent))).toBe(
        "APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\nSTAT\r\nLIST\r\nRETR 1\r\nDELE 1\r\nRETR 2\r\nDELE 2\r\nQUIT\r\n",
      );
      for (let i = 0; i < wire.length; i += size) {
        session.receiveData(wire.slice(i, i + size));
        events.push(...drain(session));
      }
      expect(summarize(events), `chunks of ${size}`).toEqual([
        {
          ok: true,
          text: "POP3 server ready <1896.697170952@dbc.mtview.ca.us>",
          apopTimestamp: "<1896.697170952@dbc.mtview.ca.us>",
        },
        { ok: true, text: "mrose's maildrop has 2 messages (320 octets)" },
        { ok: true, text: "2 320" },
        { listing: ["1 120", "2 200"] },
        { ok: true, text: "120 octets" },
        { body: MESSAGE_1, size: MESSAGE_1.length },
        { ok: true, text: "message 1 deleted" },
        { ok: true, text: "200 octets" },
        { body: MESSAGE_2, size: MESSAGE_2.length },
        { ok: true, text: "message 2 deleted" },
        { ok: true, text: "dewey POP3 server signing off (maildrop empty)" },
      ]);
      expect(session.state).toBe("CLOSED");
      expect(session.inFlight).toEqual([]);
    }
  });

  it("gives -ERR to a multi-line command as a single reply", () => {
    const session = new ClientSession();
    session.receiveData(ascii("+OK hi\r\n"));
    drain(session);
    session.send({ name: "USER", user: "a" });
    session.send({ name: "PASS", password: new Secret("b") });
    session.send({ name: "RETR", msg: 9 });
    session.receiveData(ascii("+OK\r\n+OK\r\n-ERR [SYS/PERM] no such message\r\n"));
    const events = drain(session);
    expect(events.at(-1)).toEqual({
      type: "reply",
      command: { name: "RETR", msg: 9 },
      reply: { ok: false, code: "SYS/PERM", text: "no such message" },
    });
    expect(session.state).toBe("TRANSACTION");
  });

  it("checks commands against the state after the commands in flight", () => {
    expect(() => new ClientSession().send({ name: "CAPA" })).toThrowError(/GREETING/);
    const session = greeted();
    expect(() => session.send({ name: "STAT" })).toThrowError(LocalProtocolError);
    session.send({ name: "USER", user: "a" });
    session.send({ name: "PASS", password: new Secret("b") });
    expect(() => session.send({ name: "STAT" })).not.toThrow();
    expect(() => session.send({ name: "USER", user: "again" })).toThrowError(/not valid/);
  });

  it("will not send after STLS or AUTH until they are answered (RFC 2449 §6.6)", () => {
    const session = greeted();
    session.send({ name: "STLS" });
    expect(() => session.send({ name: "CAPA" })).toThrowError(/wait for the answer to STLS/);
    const other = greeted();
    other.send({ name: "AUTH", mechanism: "PLAIN" });
    expect(() => other.send({ name: "CAPA" })).toThrowError(/AUTH/);
  });

  it("needs to be told whether an unknown command's answer is multi-line", () => {
    const session = greeted();
    expect(() => session.send({ name: "UNKNOWN", keyword: "XTND", args: [] })).toThrowError(
      /multi-line/,
    );
    session.send({ name: "UNKNOWN", keyword: "XTND", args: [] }, { multiline: true });
  });

  it("treats bytes after the +OK to STLS as an attack (RFC 2595 §4)", () => {
    const session = new ClientSession();
    session.receiveData(ascii("+OK hi\r\n"));
    drain(session);
    session.send({ name: "STLS" }, { context: "stls" });
    session.receiveData(ascii("+OK go ahead\r\n-ERR injected\r\n"));
    expect(() => drain(session)).toThrowError(
      expect.objectContaining({ code: "POP3_UNEXPECTED_DATA" }),
    );
    expect(() => session.nextEvent()).toThrowError(RemoteProtocolError);
    // Its answer was never handed out: STLS is still in flight, for the caller to fail.
    expect(session.inFlightContexts).toEqual(["stls"]);
    expect(session.state).toBe("CLOSED");
  });

  it("after STLS, refuses plaintext until the handshake is done, then allows CAPA again", () => {
    const session = new ClientSession();
    session.receiveData(ascii("+OK hi\r\n"));
    drain(session);
    session.send({ name: "STLS" });
    session.receiveData(ascii("+OK go ahead\r\n"));
    drain(session);
    expect(session.state).toBe("TLS_HANDSHAKE");
    expect(() => session.send({ name: "CAPA" })).toThrowError(LocalProtocolError);
    session.tlsEstablished();
    expect(session.tls).toBe(true);
    expect(text(session.send({ name: "CAPA" }))).toBe("CAPA\r\n");
    expect(() => session.send({ name: "STLS" })).toThrowError(/already/);
  });

  it("runs a SASL exchange and decodes challenges", () => {
    const session = new ClientSession();
    session.receiveData(ascii("+OK hi\r\n"));
    drain(session);
    session.send({ name: "AUTH", mechanism: "LOGIN" });
    session.receiveData(ascii("+ VXNlcm5hbWU6\r\n"));
    const [challenge] = drain(session);
    expect(challenge).toMatchObject({ type: "sasl-challenge" });
    if (challenge?.type !== "sasl-challenge") return;
    expect(text(challenge.challenge)).toBe("Username:");
    expect(text(session.sendSaslResponse(ascii("tim")))).toBe("dGlt\r\n");
    session.receiveData(ascii("+ \r\n"));
    const [empty] = drain(session);
    expect(empty).toMatchObject({ type: "sasl-challenge", challenge: new Uint8Array() });
    expect(text(session.cancelSasl())).toBe("*\r\n");
    session.receiveData(ascii("-ERR [AUTH] cancelled\r\n"));
    expect(drain(session)).toMatchObject([{ type: "reply", reply: { ok: false, code: "AUTH" } }]);
    expect(session.state).toBe("AUTHORIZATION");
    expect(() => session.cancelSasl()).toThrowError(LocalProtocolError);
  });

  it("rejects a challenge that is not base64 and an unsolicited line", () => {
    const session = new ClientSession();
    session.receiveData(ascii("+OK hi\r\n"));
    drain(session);
    session.send({ name: "AUTH", mechanism: "LOGIN" });
    session.receiveData(ascii("+ ***\r\n"));
    expect(() => drain(session)).toThrowError(expect.objectContaining({ code: "POP3_BAD_BASE64" }));

    const idle = new ClientSession();
    idle.receiveData(ascii("+OK hi\r\n-ERR autologout\r\n"));
    expect(() => drain(idle)).toThrowError(
      expect.objectContaining({ code: "POP3_UNEXPECTED_DATA" }),
    );
  });

  it("limits status lines and bodies", () => {
    const long = new ClientSession({ maxLineLength: 512 });
    long.receiveData(ascii(`+OK ${"x".repeat(600)}`));
    expect(() => long.nextEvent()).toThrowError(
      expect.objectContaining({ code: "POP3_LINE_TOO_LONG" }),
    );

    const big = new ClientSession({ maxBodySize: 10 });
    big.receiveData(ascii("+OK\r\n"));
    drain(big);
    big.send({ name: "USER", user: "u" });
    big.send({ name: "PASS", password: new Secret("p") });
    big.send({ name: "RETR", msg: 1 });
    big.receiveData(ascii(`+OK\r\n+OK\r\n+OK\r\n${"y".repeat(20)}\r\n.\r\n`));
    expect(() => drain(big)).toThrowError(
      expect.objectContaining({ code: "POP3_MESSAGE_TOO_LARGE" }),
    );
  });

  it("reads a body from a bare-LF server only in lenient mode", () => {
    const session = new ClientSession({ lenientLineEnds: true });
    session.receiveData(ascii("+OK\r\n"));
    drain(session);
    session.send({ name: "USER", user: "u" });
    session.send({ name: "PASS", password: new Secret("p") });
    session.send({ name: "TOP", msg: 1, lines: 0 });
    session.receiveData(ascii("+OK\r\n+OK\r\n+OK\nSubject: x\n\n.\n"));
    expect(summarize(drain(session)).at(-1)).toEqual({ body: "Subject: x\n\n", size: 12 });
  });

  it("a negative greeting closes the session", () => {
    const session = new ClientSession();
    session.receiveData(ascii("-ERR [SYS/TEMP] too busy\r\n"));
    expect(drain(session)).toMatchObject([
      { type: "greeting", greeting: { ok: false, code: "SYS/TEMP" } },
    ]);
    expect(session.state).toBe("CLOSED");
  });
});
