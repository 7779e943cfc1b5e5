import { describe, expect, it } from "vitest";
import { apopDigest } from "../../src/sasl/apop";
import { decodeBase64Strict } from "../../src/sasl/base64";
import { createSaslServerExchange } from "../../src/sasl/mechanisms";
import { ServerSession } from "../../src/session/server-session";
import { NEED_DATA, PAUSED } from "../../src/session/signals";
import { ascii, concat, text } from "../helpers";

/** Feeds `line` to the server and returns the single event it gives. */
function command(session: ServerSession, line: string) {
  session.receiveData(ascii(`${line}\r\n`));
  const event = session.nextEvent();
  if (event === NEED_DATA || event === PAUSED) throw new Error(`no event for ${line}`);
  return event;
}

describe("RFC 1939 §10 example session, server side", () => {
  it("produces the server's lines byte for byte", () => {
    const message1 = ascii(`${"a".repeat(118)}\r\n`);
    const message2 = ascii(`${"b".repeat(198)}\r\n`);
    const session = new ServerSession();
    const out: Uint8Array[] = [
      session.greet({
        ok: true,
        text: "POP3 server ready",
        apopTimestamp: "<1896.697170952@dbc.mtview.ca.us>",
      }),
    ];

    const apop = command(session, "APOP mrose c4c9334bac560ecc979e58001b3e22fb");
    expect(apop).toEqual({
      type: "command",
      command: {
        name: "APOP",
        user: "mrose",
        digest: apopDigest("<1896.697170952@dbc.mtview.ca.us>", "tanstaaf"),
      },
    });
    out.push(session.sendReply({ ok: true, text: "mrose's maildrop has 2 messages (320 octets)" }));
    command(session, "STAT");
    out.push(session.sendReply({ ok: true, text: "2 320" }));
    command(session, "LIST");
    out.push(session.sendLines({ ok: true, text: "2 messages (320 octets)" }, ["1 120", "2 200"]));
    for (const [n, message] of [
      [1, message1],
      [2, message2],
    ] as const) {
      command(session, `RETR ${n}`);
      out.push(session.sendMultilineStart({ ok: true, text: `${message.length} octets` }));
      out.push(session.sendMultilineData(message), session.sendMultilineEnd());
      command(session, `DELE ${n}`);
      out.push(session.sendReply({ ok: true, text: `message ${n} deleted` }));
    }
    command(session, "QUIT");
    expect(session.state).toBe("UPDATE");
    out.push(
      session.sendReply({ ok: true, text: "dewey POP3 server signing off (maildrop empty)" }),
    );
    expect(session.state).toBe("CLOSED");

    expect(text(concat(out))).toBe(
      [
        "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>",
        "+OK mrose's maildrop has 2 messages (320 octets)",
        "+OK 2 320",
        "+OK 2 messages (320 octets)",
        "1 120",
        "2 200",
        ".",
        "+OK 120 octets",
        "a".repeat(118),
        ".",
        "+OK message 1 deleted",
        "+OK 200 octets",
        "b".repeat(198),
        ".",
        "+OK message 2 deleted",
        "+OK dewey POP3 server signing off (maildrop empty)",
        "",
      ].join("\r\n"),
    );
  });
});

describe("RFC 5034 §6 examples", () => {
  it("AUTH PLAIN with an initial response logs in at once", () => {
    const session = new ServerSession();
    session.greet({ ok: true, text: "POP3 server ready" });
    const event = command(session, "AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=");
    if (event.type !== "command" || event.command.name !== "AUTH") throw new Error("expected AUTH");
    const exchange = createSaslServerExchange(event.command.mechanism ?? "");
    const initial = event.command.initialResponse?.reveal();
    const step = exchange?.start(initial === undefined ? undefined : decodeBase64Strict(initial));
    expect(step).toMatchObject({
      type: "done",
      credentials: { mechanism: "PLAIN", authzid: "test", username: "test" },
    });
    if (step?.type !== "done" || step.credentials.mechanism !== "PLAIN") return;
    expect(step.credentials.password.reveal()).toBe("test");
    expect(text(session.sendReply({ ok: true, text: "Maildrop locked and ready" }))).toBe(
      "+OK Maildrop locked and ready\r\n",
    );
    expect(session.state).toBe("TRANSACTION");
  });

  it("AUTH PLAIN without one gets the empty challenge `+ ` and then the response", () => {
    const session = new ServerSession();
    session.greet({ ok: true, text: "POP3 server ready" });
    command(session, "AUTH PLAIN");
    const exchange = createSaslServerExchange("PLAIN");
    const first = exchange?.start(undefined);
    if (first?.type !== "challenge") throw new Error("expected a challenge");
    expect(text(session.sendChallenge(first.challenge))).toBe("+ \r\n");
    const response = command(session, "dGVzdAB0ZXN0AHRlc3Q=");
    if (response.type !== "sasl-response") throw new Error("expected a SASL response");
    expect(exchange?.step(response.response)).toMatchObject({ type: "done" });
    session.sendReply({ ok: true, text: "Maildrop locked and ready" });
    expect(session.state).toBe("TRANSACTION");
  });
});
