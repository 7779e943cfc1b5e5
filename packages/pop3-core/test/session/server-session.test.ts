import { describe, expect, it } from "vitest";
import { LocalProtocolError } from "../../src/errors";
import { decodeBase64Strict } from "../../src/sasl/base64";
import { ServerSession } from "../../src/session/server-session";
import { NEED_DATA, PAUSED } from "../../src/session/signals";
import { ascii, concat, text } from "../helpers";

function started(options: ConstructorParameters<typeof ServerSession>[0] = {}): ServerSession {
  const session = new ServerSession(options);
  session.greet({ ok: true, text: "POP3 ready", apopTimestamp: "<1.2@host>" });
  return session;
}

function login(session: ServerSession): void {
  session.receiveData(ascii("USER a\r\nPASS b\r\n"));
  session.nextEvent();
  session.sendReply({ ok: true, text: "" });
  session.nextEvent();
  session.sendReply({ ok: true, text: "" });
  expect(session.state).toBe("TRANSACTION");
}

describe("ServerSession", () => {
  it("greets with the APOP timestamp and enters AUTHORIZATION", () => {
    const session = new ServerSession();
    expect(
      text(
        session.greet({
          ok: true,
          text: "POP3 server ready",
          apopTimestamp: "<1896.697170952@dbc.mtview.ca.us>",
        }),
      ),
    ).toBe("+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n");
    expect(session.state).toBe("AUTHORIZATION");
  });

  it("gives pipelined commands one at a time, each only after the previous answer", () => {
    const session = started();
    session.receiveData(ascii("USER a\r\nPASS b\r\nSTAT\r\n"));
    expect(session.nextEvent()).toEqual({ type: "command", command: { name: "USER", user: "a" } });
    expect(session.nextEvent()).toBe(PAUSED);
    session.sendReply({ ok: true, text: "" });
    const pass = session.nextEvent();
    expect(pass).toMatchObject({ type: "command", command: { name: "PASS" } });
    session.sendReply({ ok: true, text: "maildrop locked" });
    expect(session.state).toBe("TRANSACTION");
    expect(session.nextEvent()).toEqual({ type: "command", command: { name: "STAT" } });
    expect(text(session.sendReply({ ok: true, text: "2 320" }))).toBe("+OK 2 320\r\n");
    expect(session.nextEvent()).toBe(NEED_DATA);
  });

  it("refuses PASS unless it follows a successful USER", () => {
    const session = started();
    session.receiveData(ascii("PASS x\r\nUSER a\r\nPASS b\r\n"));
    expect(session.nextEvent()).toMatchObject({
      type: "rejected",
      error: { code: "POP3_BAD_STATE" },
    });
    session.sendReply({ ok: false, text: "no" });
    session.nextEvent();
    session.sendReply({ ok: false, text: "unknown user" });
    expect(session.nextEvent()).toMatchObject({ type: "rejected", command: { name: "PASS" } });
  });

  it("refuses commands of the wrong state with a ready -ERR, and the session goes on", () => {
    const session = started();
    session.receiveData(ascii("STAT\r\nRETR 1\r\nCAPA\r\n"));
    const stat = session.nextEvent();
    expect(stat).toMatchObject({
      type: "rejected",
      command: { name: "STAT" },
      reply: { ok: false },
    });
    if (typeof stat === "symbol" || stat.type !== "rejected") throw new Error("expected rejected");
    expect(text(session.sendReply(stat.reply))).toMatch(/^-ERR .*not valid/);
    session.nextEvent();
    session.sendReply({ ok: false, text: "" });
    expect(session.nextEvent()).toEqual({ type: "command", command: { name: "CAPA" } });
  });

  it("answers a syntax error with -ERR and reads the next command", () => {
    const session = started();
    session.receiveData(ascii("RETR x\r\nQUIT\r\n"));
    expect(session.nextEvent()).toMatchObject({
      type: "rejected",
      error: { code: "POP3_BAD_ARGUMENT" },
    });
    session.sendReply({ ok: false, text: "syntax" });
    expect(session.nextEvent()).toEqual({ type: "command", command: { name: "QUIT" } });
    session.sendReply({ ok: true, text: "bye" });
    expect(session.state).toBe("CLOSED");
  });

  it("reports an over-long line as soon as it passes the limit and never buffers past it", () => {
    const session = started({ limits: { maxLineLength: 255, maxSaslLineLength: 255 } });
    session.receiveData(ascii("NOOP ".repeat(100)));
    expect(session.nextEvent()).toMatchObject({
      type: "rejected",
      error: { code: "POP3_LINE_TOO_LONG" },
    });
    session.sendReply({ ok: false, text: "too long" });
    session.receiveData(ascii("x".repeat(10000)));
    expect(session.nextEvent()).toBe(NEED_DATA);
    session.receiveData(ascii("\r\nCAPA\r\n"));
    expect(session.nextEvent()).toEqual({ type: "command", command: { name: "CAPA" } });
  });

  it("streams a multi-line answer through the dot-stuffing encoder", () => {
    const session = started();
    login(session);
    session.receiveData(ascii("RETR 1\r\n"));
    session.nextEvent();
    const wire = concat([
      session.sendMultilineStart({ ok: true, text: "7 octets" }),
      session.sendMultilineData(ascii(".a\n")),
      session.sendMultilineData(ascii("b")),
      session.sendMultilineEnd(),
    ]);
    expect(text(wire)).toBe("+OK 7 octets\r\n..a\r\nb\r\n.\r\n");
  });

  it("writes text listings with sendLines", () => {
    const session = started();
    session.receiveData(ascii("CAPA\r\n"));
    session.nextEvent();
    expect(text(session.sendLines({ ok: true, text: "" }, ["TOP", "USER"]))).toBe(
      "+OK\r\nTOP\r\nUSER\r\n.\r\n",
    );
  });

  it("refuses misuse of the API with LocalProtocolError", () => {
    const session = started();
    expect(() => session.sendReply({ ok: true, text: "" })).toThrowError(LocalProtocolError);
    session.receiveData(ascii("QUIT\r\n"));
    session.nextEvent();
    expect(() => session.sendMultilineStart({ ok: true, text: "" })).toThrowError(/single-line/);
    expect(() => session.sendChallenge(new Uint8Array())).toThrowError(LocalProtocolError);
  });

  it("drops the bytes pipelined after STLS instead of running them (CVE-2011-0411)", () => {
    const session = started();
    session.receiveData(ascii("STLS\r\nUSER evil\r\nPASS injected\r\n"));
    expect(session.nextEvent()).toEqual({ type: "command", command: { name: "STLS" } });
    session.sendReply({ ok: true, text: "Begin TLS negotiation" });
    expect(session.state).toBe("TLS_HANDSHAKE");
    expect(session.discardedAfterStls).toBe("USER evil\r\nPASS injected\r\n".length);
    session.receiveData(ascii("late plaintext"));
    expect(session.nextEvent()).toBe(PAUSED);
    session.tlsEstablished();
    expect(session.tls).toBe(true);
    expect(session.nextEvent()).toBe(NEED_DATA);
    session.receiveData(ascii("STLS\r\n"));
    expect(session.nextEvent()).toMatchObject({
      type: "rejected",
      error: { message: "TLS is already active" },
    });
  });

  it("runs a SASL exchange: challenge, response, cancel and bad base64", () => {
    const session = started();
    session.receiveData(ascii("AUTH PLAIN\r\nAGEAYg==\r\n"));
    expect(session.nextEvent()).toEqual({
      type: "command",
      command: { name: "AUTH", mechanism: "PLAIN" },
    });
    expect(text(session.sendChallenge(new Uint8Array()))).toBe("+ \r\n");
    expect(session.state).toBe("SASL");
    const response = session.nextEvent();
    expect(response).toEqual({ type: "sasl-response", response: decodeBase64Strict("AGEAYg==") });
    expect(session.nextEvent()).toBe(PAUSED);
    session.sendReply({ ok: true, text: "logged in" });
    expect(session.state).toBe("TRANSACTION");

    const other = started();
    other.receiveData(ascii("AUTH LOGIN\r\n*\r\nAUTH LOGIN\r\nnot base64!\r\n"));
    other.nextEvent();
    other.sendChallenge(ascii("Username:"));
    expect(other.nextEvent()).toMatchObject({ type: "sasl-cancelled", reply: { ok: false } });
    other.sendReply({ ok: false, text: "cancelled" });
    expect(other.state).toBe("AUTHORIZATION");
    other.nextEvent();
    other.sendChallenge(ascii("Username:"));
    expect(other.nextEvent()).toMatchObject({
      type: "rejected",
      error: { code: "POP3_BAD_BASE64" },
    });
    other.sendReply({ ok: false, text: "bad base64" });
    expect(other.state).toBe("AUTHORIZATION");
  });

  it("refuses AUTH after login (RFC 5034 §4) and UTF8 outside AUTHORIZATION", () => {
    const session = started();
    login(session);
    session.receiveData(ascii("AUTH PLAIN\r\n"));
    expect(session.nextEvent()).toMatchObject({ type: "rejected", command: { name: "AUTH" } });
    session.sendReply({ ok: false, text: "" });
    session.receiveData(ascii("UTF8\r\n"));
    expect(session.nextEvent()).toMatchObject({ type: "rejected", command: { name: "UTF8" } });
  });

  it("enters UPDATE on QUIT in TRANSACTION and closes with either answer", () => {
    const session = started();
    login(session);
    session.receiveData(ascii("QUIT\r\nNOOP\r\n"));
    session.nextEvent();
    expect(session.state).toBe("UPDATE");
    expect(session.nextEvent()).toBe(PAUSED);
    session.sendReply({ ok: false, code: "SYS/TEMP", text: "some deleted messages not removed" });
    expect(session.state).toBe("CLOSED");
    expect(session.nextEvent()).toBe(PAUSED);
  });

  it("with implicit TLS refuses STLS from the start", () => {
    const session = started({ tls: true });
    session.receiveData(ascii("STLS\r\n"));
    expect(session.nextEvent()).toMatchObject({ type: "rejected" });
  });
});
