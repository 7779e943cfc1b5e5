import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { Secret } from "../../src/secret";
import { type ClientEvent, ClientSession, isFinalEvent } from "../../src/session/client-session";
import { ServerSession } from "../../src/session/server-session";
import { NEED_DATA, PAUSED } from "../../src/session/signals";
import { ENDS_PIPELINE } from "../../src/session/table";
import type { Pop3Command } from "../../src/types/command";
import { ascii, concat, splitAt } from "../helpers";

function drain<C>(session: ClientSession<C>): ClientEvent<C>[] {
  const events: ClientEvent<C>[] = [];
  for (let e = session.nextEvent(); e !== NEED_DATA; e = session.nextEvent()) events.push(e);
  return events;
}

function greeted<C = unknown>(
  options: ConstructorParameters<typeof ClientSession>[0] = {},
): ClientSession<C> {
  const session = new ClientSession<C>(options);
  session.receiveData(ascii("+OK ready\r\n"));
  drain(session);
  return session;
}

/** A session that has read a CAPA answer listing `capabilities`. */
function afterCapa<C = unknown>(
  capabilities: readonly string[],
  options: ConstructorParameters<typeof ClientSession>[0] = {},
): ClientSession<C> {
  const session = greeted<C>(options);
  session.send({ name: "CAPA" });
  session.receiveData(ascii(`+OK\r\n${capabilities.map((c) => `${c}\r\n`).join("")}.\r\n`));
  expect(drain(session)).toMatchObject([{ type: "listing" }]);
  return session;
}

describe("ClientSession: may the next command be written now?", () => {
  it("not before the greeting; at once after it", () => {
    const session = new ClientSession();
    expect(session.readyToSend).toBe(false);
    session.receiveData(ascii("+OK ready\r\n"));
    drain(session);
    expect(session.readyToSend).toBe(true);
  });

  it("one command at a time until the server advertises PIPELINING", () => {
    const session = greeted();
    expect(session.pipelining).toBe(false);
    session.send({ name: "USER", user: "a" });
    expect(session.readyToSend).toBe(false);
    session.receiveData(ascii("+OK\r\n"));
    drain(session);
    expect(session.readyToSend).toBe(true);

    const pipelined = afterCapa(["USER", "PIPELINING"]);
    expect(pipelined.pipelining).toBe(true);
    pipelined.send({ name: "USER", user: "a" });
    expect(pipelined.readyToSend).toBe(true);
    pipelined.send({ name: "PASS", password: new Secret("b") });
    expect(pipelined.readyToSend).toBe(true);
  });

  it("never pipelines with the pipelining option off, whatever the server says", () => {
    const session = afterCapa(["PIPELINING"], { pipelining: false });
    expect(session.pipelining).toBe(false);
    session.send({ name: "CAPA" });
    expect(session.readyToSend).toBe(false);
  });

  it("reads PIPELINING from every CAPA answer: a later one without it, or -ERR, turns it off", () => {
    const session = afterCapa(["pipelining"]);
    expect(session.pipelining).toBe(true);
    session.send({ name: "CAPA" });
    session.receiveData(ascii("+OK\r\nUSER\r\n.\r\n"));
    drain(session);
    expect(session.pipelining).toBe(false);

    const refused = afterCapa(["PIPELINING"]);
    refused.send({ name: "CAPA" });
    refused.receiveData(ascii("-ERR no CAPA here\r\n"));
    drain(refused);
    expect(refused.pipelining).toBe(false);
  });

  it("a CAPA line core cannot parse gives no PIPELINING, but the listing still arrives", () => {
    const session = greeted();
    session.send({ name: "CAPA" });
    session.receiveData(ascii("+OK\r\nPIPELINING\r\nX\0Y\r\n.\r\n"));
    expect(drain(session)).toMatchObject([{ type: "listing", lines: ["PIPELINING", "X\0Y"] }]);
    expect(session.pipelining).toBe(false);
  });

  it.each(ENDS_PIPELINE)(
    "nothing may follow %s until it is answered, even with PIPELINING",
    (key) => {
      const session = afterCapa(["PIPELINING"]);
      const commands: Record<string, Pop3Command> = {
        STLS: { name: "STLS" },
        AUTH: { name: "AUTH", mechanism: "PLAIN" },
        QUIT: { name: "QUIT" },
      };
      session.send(commands[key] as Pop3Command);
      expect(session.readyToSend).toBe(false);
      expect(() => session.send({ name: "NOOP" })).toThrowError(/wait for the answer/);
    },
  );

  it("not during a SASL exchange; again once it ends", () => {
    const session = afterCapa(["PIPELINING", "SASL LOGIN"]);
    session.send({ name: "AUTH", mechanism: "LOGIN" });
    session.receiveData(ascii("+ VXNlcm5hbWU6\r\n"));
    drain(session);
    expect(session.state).toBe("SASL");
    expect(session.readyToSend).toBe(false);
    session.sendSaslResponse(ascii("tim"));
    session.receiveData(ascii("+OK welcome\r\n"));
    drain(session);
    expect(session.state).toBe("TRANSACTION");
    expect(session.readyToSend).toBe(true);
  });

  it("not during the TLS handshake; after it, one at a time until CAPA is asked again", () => {
    const session = afterCapa(["PIPELINING", "STLS"]);
    session.send({ name: "STLS" });
    session.receiveData(ascii("+OK begin TLS\r\n"));
    drain(session);
    expect(session.state).toBe("TLS_HANDSHAKE");
    expect(session.readyToSend).toBe(false);
    session.tlsEstablished();
    // RFC 2595 §4: what the server said before TLS is forgotten.
    expect(session.pipelining).toBe(false);
    expect(session.readyToSend).toBe(true);
    session.send({ name: "CAPA" });
    expect(session.readyToSend).toBe(false);
    session.receiveData(ascii("+OK\r\nPIPELINING\r\n.\r\n"));
    drain(session);
    expect(session.pipelining).toBe(true);
  });

  it("not after the session ended or failed", () => {
    const closed = greeted();
    closed.send({ name: "QUIT" });
    closed.receiveData(ascii("+OK bye\r\n"));
    drain(closed);
    expect(closed.state).toBe("CLOSED");
    expect(closed.readyToSend).toBe(false);

    const failed = greeted();
    failed.receiveData(ascii("+OK nobody asked\r\n"));
    expect(() => drain(failed)).toThrowError(/nobody asked/);
    expect(failed.readyToSend).toBe(false);
  });
});

describe("ClientSession: whose answer is it, and is it complete?", () => {
  it("gives each command's context back on every event of its answer", () => {
    const session = afterCapa<string>(["PIPELINING"]);
    session.send({ name: "USER", user: "a" }, { context: "user" });
    session.send({ name: "PASS", password: new Secret("b") }, { context: "pass" });
    session.send({ name: "RETR", msg: 1 }, { context: "retr" });
    session.send({ name: "LIST" }, { context: "list" });
    session.send({ name: "NOOP" });
    expect(session.inFlightContexts).toEqual(["user", "pass", "retr", "list", undefined]);
    session.receiveData(
      ascii("+OK\r\n+OK\r\n+OK\r\nhi\r\n..dot\r\n.\r\n+OK\r\n1 9\r\n.\r\n-ERR no\r\n"),
    );
    const events = drain(session);
    expect(events.map((e) => [e.type, "context" in e ? e.context : "-"])).toEqual([
      ["reply", "user"],
      ["reply", "pass"],
      ["body-start", "retr"],
      ["body-data", "retr"],
      ["body-data", "retr"],
      ["body-end", "retr"],
      ["listing", "list"],
      ["reply", undefined],
    ]);
  });

  it("a command leaves inFlight when the final event of its answer is handed out", () => {
    const session = afterCapa<string>(["PIPELINING"]);
    session.send({ name: "USER", user: "a" });
    session.send({ name: "PASS", password: new Secret("b") });
    drain(session);
    session.receiveData(ascii("+OK\r\n+OK\r\n"));
    drain(session);
    session.send({ name: "RETR", msg: 1 }, { context: "retr" });
    session.send({ name: "NOOP" }, { context: "noop" });
    session.receiveData(ascii("+OK\r\nline\r\n.\r\n+OK\r\n"));
    const seen: [string, boolean, readonly (string | undefined)[]][] = [];
    for (let e = session.nextEvent(); e !== NEED_DATA; e = session.nextEvent()) {
      seen.push([e.type, isFinalEvent(e), session.inFlightContexts]);
    }
    expect(seen).toEqual([
      ["body-start", false, ["retr", "noop"]],
      ["body-data", false, ["retr", "noop"]],
      ["body-end", true, ["noop"]],
      ["reply", true, []],
    ]);
  });

  it("calls the greeting, a reply, a listing and a body's end final, and nothing else", () => {
    const session = greeted();
    session.send({ name: "AUTH", mechanism: "PLAIN" });
    session.receiveData(ascii("+ \r\n"));
    const [challenge] = drain(session);
    expect(challenge?.type).toBe("sasl-challenge");
    expect(isFinalEvent(challenge as ClientEvent)).toBe(false);
    expect(session.inFlight).toHaveLength(1);
    expect(isFinalEvent({ type: "greeting", greeting: { ok: true, text: "" } })).toBe(true);
  });
});

/** One user, `count` messages of `n` lines; answers everything a client may send. */
function serve(server: ServerSession, count: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let e = server.nextEvent(); e !== NEED_DATA && e !== PAUSED; e = server.nextEvent()) {
    if (e.type !== "command") {
      out.push(server.sendReply({ ok: false, text: "no" }));
      continue;
    }
    const { command } = e;
    const exists = (msg: number) => msg <= count;
    switch (command.name) {
      case "CAPA":
        out.push(server.sendLines({ ok: true, text: "" }, ["USER", "PIPELINING"]));
        break;
      case "LIST":
        out.push(
          command.msg === undefined
            ? server.sendLines({ ok: true, text: "" }, ["1 10"])
            : server.sendReply({ ok: exists(command.msg), text: `${command.msg} 10` }),
        );
        break;
      case "RETR":
        if (!exists(command.msg)) {
          out.push(server.sendReply({ ok: false, text: "no such message" }));
          break;
        }
        out.push(server.sendMultilineStart({ ok: true, text: "" }));
        out.push(server.sendMultilineData(ascii(`${".x\r\n".repeat(command.msg)}end\r\n`)));
        out.push(server.sendMultilineEnd());
        break;
      default:
        out.push(server.sendReply({ ok: true, text: "" }));
    }
  }
  return out;
}

const arbCommand: fc.Arbitrary<Pop3Command> = fc.oneof(
  fc.constant<Pop3Command>({ name: "STAT" }),
  fc.constant<Pop3Command>({ name: "NOOP" }),
  fc.constant<Pop3Command>({ name: "LIST" }),
  fc.constant<Pop3Command>({ name: "CAPA" }),
  fc.integer({ min: 1, max: 4 }).map((msg): Pop3Command => ({ name: "LIST", msg })),
  fc.integer({ min: 1, max: 4 }).map((msg): Pop3Command => ({ name: "RETR", msg })),
);

describe("a shell that writes only when readyToSend", () => {
  test.prop([
    fc.array(arbCommand, { maxLength: 12 }),
    fc.boolean(),
    fc.array(fc.nat({ max: 400 }), { maxLength: 8 }),
  ])(
    "gets every answer to the right command, complete, in order; pipelines only when allowed",
    (commands, pipelining, cuts) => {
      const server = new ServerSession();
      const client = new ClientSession<number>({ pipelining });
      client.receiveData(server.greet({ ok: true, text: "hi" }));
      drain(client);
      const queue: Pop3Command[] = [
        { name: "CAPA" },
        { name: "USER", user: "a" },
        { name: "PASS", password: new Secret("b") },
        ...commands,
        { name: "QUIT" },
      ];
      const events: ClientEvent<number>[] = [];
      let sent = 0;
      let mostInFlight = 0;
      while (client.state !== "CLOSED") {
        const request: Uint8Array[] = [];
        while (sent < queue.length && client.readyToSend) {
          request.push(client.send(queue[sent] as Pop3Command, { context: sent }));
          sent += 1;
          mostInFlight = Math.max(mostInFlight, client.inFlight.length);
        }
        expect(request.length, "the shell is never stuck").toBeGreaterThan(0);
        server.receiveData(concat(request));
        for (const part of splitAt(concat(serve(server, 3)), cuts)) {
          client.receiveData(part);
          events.push(...drain(client));
        }
      }
      expect(sent).toBe(queue.length);
      // Without PIPELINING (or with the option off), one command at a time.
      if (!pipelining) expect(mostInFlight).toBe(1);
      // Once CAPA has said PIPELINING, USER and PASS already go out together.
      if (pipelining) expect(mostInFlight).toBeGreaterThan(1);
      const answers = events.filter((e) => e.type !== "greeting");
      const finals = answers.filter(isFinalEvent).map((e) => ("context" in e ? e.context : -1));
      expect(finals).toEqual(queue.map((_, i) => i));
      // Every event of an answer comes before its final one, and after the previous final one.
      let current = 0;
      for (const event of answers) {
        expect("context" in event && event.context).toBe(current);
        if (isFinalEvent(event)) current += 1;
      }
      expect(client.inFlight).toEqual([]);
    },
  );
});
