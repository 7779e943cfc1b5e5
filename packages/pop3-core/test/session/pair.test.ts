import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { RemoteProtocolError } from "../../src/errors";
import { Secret } from "../../src/secret";
import { type ClientEvent, ClientSession } from "../../src/session/client-session";
import { ServerSession } from "../../src/session/server-session";
import { NEED_DATA, PAUSED } from "../../src/session/signals";
import { concat, messageBytes, normalizeReference, splitAt } from "../helpers";

/** A toy server on top of ServerSession: one user, a fixed maildrop, no I/O. */
function serve(session: ServerSession, messages: readonly Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (;;) {
    const event = session.nextEvent();
    if (event === NEED_DATA || event === PAUSED) return out;
    if (event.type !== "command") {
      out.push(session.sendReply({ ok: false, text: "no" }));
      continue;
    }
    const { command } = event;
    if (command.name === "RETR") {
      const message = messages[command.msg - 1];
      if (message === undefined) {
        out.push(session.sendReply({ ok: false, text: "no such message" }));
        continue;
      }
      out.push(session.sendMultilineStart({ ok: true, text: "message follows" }));
      // Odd-sized slices, so stuffing and CRLF pairs straddle the encoder's chunks.
      for (const part of splitAt(message, [3, 17, 50, 51, 200]))
        out.push(session.sendMultilineData(part));
      out.push(session.sendMultilineEnd());
    } else {
      out.push(session.sendReply({ ok: true, text: "" }));
    }
  }
}

function bodies(events: readonly ClientEvent[]): Uint8Array[] {
  const result: Uint8Array[] = [];
  let parts: Uint8Array[] = [];
  for (const event of events) {
    if (event.type === "body-data") parts.push(event.data.slice());
    if (event.type === "body-end") {
      result.push(concat(parts));
      parts = [];
    }
  }
  return result;
}

describe("client and server sessions together", () => {
  test.prop([
    fc.array(messageBytes(400), { minLength: 1, maxLength: 5 }),
    fc.array(fc.nat({ max: 3000 }), { maxLength: 30 }),
  ])(
    "a pipelined fetch of every message gives each one back, CRLF-normalised, however the bytes are cut",
    (messages, cuts) => {
      const server = new ServerSession();
      const client = new ClientSession();
      client.receiveData(server.greet({ ok: true, text: "hi" }));
      expect(client.nextEvent()).toMatchObject({ type: "greeting" });

      const request = concat([
        client.send({ name: "USER", user: "alice" }),
        client.send({ name: "PASS", password: new Secret("secret") }),
        ...messages.map((_, i) => client.send({ name: "RETR", msg: i + 1 })),
        client.send({ name: "QUIT" }),
      ]);
      const responses: Uint8Array[] = [];
      for (const part of splitAt(request, cuts)) {
        server.receiveData(part);
        responses.push(...serve(server, messages));
      }
      expect(server.state).toBe("CLOSED");

      const events: ClientEvent[] = [];
      for (const part of splitAt(concat(responses), cuts)) {
        client.receiveData(part);
        for (let e = client.nextEvent(); e !== NEED_DATA; e = client.nextEvent()) events.push(e);
      }
      expect(bodies(events)).toEqual(messages.map(normalizeReference));
      expect(client.state).toBe("CLOSED");
    },
  );

  test.prop([fc.uint8Array({ maxLength: 500 }), fc.array(fc.nat({ max: 500 }), { maxLength: 10 })])(
    "random bytes from a server give events or a RemoteProtocolError, never a hang or another error",
    (garbage, cuts) => {
      const client = new ClientSession({
        maxLineLength: 64,
        maxBodySize: 300,
        maxListingSize: 300,
      });
      client.receiveData(Uint8Array.of(0x2b, 0x4f, 0x4b, 0x0d, 0x0a));
      client.nextEvent();
      client.send({ name: "CAPA" });
      client.send({ name: "USER", user: "a" });
      client.send({ name: "PASS", password: new Secret("b") });
      client.send({ name: "RETR", msg: 1 });
      try {
        for (const part of splitAt(garbage, cuts)) {
          client.receiveData(part);
          let steps = 0;
          while (client.nextEvent() !== NEED_DATA) expect(steps++).toBeLessThan(1000);
        }
      } catch (error) {
        expect(error).toBeInstanceOf(RemoteProtocolError);
      }
    },
  );

  test.prop([fc.uint8Array({ maxLength: 500 }), fc.array(fc.nat({ max: 500 }), { maxLength: 10 })])(
    "random bytes from a client give events that can all be answered",
    (garbage, cuts) => {
      const server = new ServerSession({ limits: { maxLineLength: 64, maxSaslLineLength: 64 } });
      server.greet({ ok: true, text: "hi" });
      for (const part of splitAt(garbage, cuts)) {
        server.receiveData(part);
        let steps = 0;
        for (let e = server.nextEvent(); e !== NEED_DATA && e !== PAUSED; e = server.nextEvent()) {
          expect(steps++).toBeLessThan(1000);
          if (
            e.type === "command" &&
            e.command.name === "AUTH" &&
            e.command.mechanism !== undefined
          ) {
            server.sendChallenge(new Uint8Array());
          } else {
            server.sendReply({ ok: false, text: "no" });
          }
        }
      }
    },
  );

  it("never mistakes message bytes for a reply when the client gives up reading mid-body", () => {
    const client = new ClientSession();
    client.receiveData(Uint8Array.of(0x2b, 0x4f, 0x4b, 0x0d, 0x0a));
    client.nextEvent();
    client.send({ name: "USER", user: "a" });
    client.send({ name: "PASS", password: new Secret("b") });
    client.send({ name: "RETR", msg: 1 });
    client.send({ name: "NOOP" });
    const wire = new TextEncoder().encode(
      "+OK\r\n+OK\r\n+OK\r\n+OK fake reply in the body\r\n.\r\n+OK real\r\n",
    );
    client.receiveData(wire);
    const events: ClientEvent[] = [];
    for (let e = client.nextEvent(); e !== NEED_DATA; e = client.nextEvent()) events.push(e);
    expect(events.at(-1)).toMatchObject({
      type: "reply",
      command: { name: "NOOP" },
      reply: { text: "real" },
    });
  });
});
