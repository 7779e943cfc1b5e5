import { parseCommand } from "pop3-core";
import { afterEach, describe, expect, it } from "vitest";
import type { ServerContext } from "../../src/context";
import { Mailbox } from "../../src/mailbox";
import type { ServerObserver, SessionOutcome } from "../../src/observer";
import { MemoryStore } from "../../src/store/memory-store";
import type { Maildrop } from "../../src/store/types";
import { TransactionPhase } from "../../src/transaction-phase";
import { MemoryHost, memoryContext } from "./memory-host";

// The TRANSACTION phase driven without a socket, over a real MemoryStore maildrop.

const contexts: ServerContext[] = [];
afterEach(async () => {
  for (const context of contexts.splice(0)) await context.hashPool.close();
});

const MESSAGES = [
  "Subject: one\r\n\r\n1\r\n",
  "Subject: two\r\n\r\n22\r\n.dot\r\n",
  "Subject: 3\r\n\r\n",
];

async function setup(options: { failCommit?: boolean } = {}) {
  const outcomes: SessionOutcome[] = [];
  const observer: ServerObserver = { onSessionEnd: (outcome) => outcomes.push(outcome) };
  const store = new MemoryStore({ failCommit: () => options.failCommit === true });
  const { context } = memoryContext({ observer }, store);
  contexts.push(context);
  const uids = MESSAGES.map((m, i) => store.addMessage("alice", m, { uid: `u${i + 1}` }).uid);
  const host = new MemoryHost(context, { tls: true });
  const mailbox = new Mailbox(await store.openMaildrop("alice"));
  return { store, host, outcomes, uids, phase: new TransactionPhase(host, "alice", mailbox) };
}

const command = (line: string) => parseCommand(line);
const reply = (ok: boolean, text: string, code?: string) => ({
  type: "reply",
  reply: code === undefined ? { ok, text } : { ok, code, text },
});

describe("TransactionPhase", () => {
  it("answers STAT, LIST and UIDL from the snapshot, hiding marked messages", async () => {
    const { phase, host } = await setup();
    phase.command(command("STAT"));
    phase.command(command("DELE 2"));
    phase.command(command("STAT"));
    phase.command(command("LIST"));
    phase.command(command("UIDL"));
    phase.command(command("LIST 2"));
    phase.command(command("UIDL 3"));
    phase.command(command("DELE 2"));
    expect(host.take()).toEqual([
      reply(true, "3 59"),
      reply(true, "message 2 deleted"),
      reply(true, "2 33"),
      { type: "lines", reply: { ok: true, text: "2 messages" }, lines: ["1 19", "3 14"] },
      {
        type: "lines",
        reply: { ok: true, text: "unique-id listing follows" },
        lines: ["1 u1", "3 u3"],
      },
      reply(false, "no such message"),
      reply(true, "3 u3"),
      reply(false, "no such message"),
    ]);
  });

  it("RSET unmarks every message", async () => {
    const { phase, host } = await setup();
    phase.command(command("DELE 1"));
    phase.command(command("DELE 3"));
    phase.command(command("RSET"));
    expect(host.take().at(-1)).toEqual(reply(true, "maildrop has 3 messages (59 octets)"));
  });

  it("streams RETR with the size LIST gave, and TOP cut to the lines asked for", async () => {
    const { phase, host } = await setup();
    await phase.command(command("RETR 2"));
    await phase.command(command("TOP 1 0"));
    await phase.command(command("RETR 9"));
    expect(host.take()).toEqual([
      {
        type: "body",
        reply: { ok: true, text: "26 octets" },
        bytes: Buffer.from(MESSAGES[1] as string),
      },
      {
        type: "body",
        reply: { ok: true, text: "top of message follows" },
        bytes: Buffer.from("Subject: one\r\n\r\n"),
      },
      reply(false, "no such message"),
    ]);
  });

  it("aborts a read that TOP leaves unfinished; the next read gets a signal of its own", async () => {
    const store = new MemoryStore();
    const { context } = memoryContext({}, store);
    contexts.push(context);
    // Two store chunks (64 KiB each at most): TOP stops after the first, RETR streams both.
    const big = `Subject: big\r\n\r\n${`${"y".repeat(98)}\r\n`.repeat(1000)}`;
    const small = "Subject: small\r\n\r\nhi\r\n";
    store.addMessage("alice", big);
    store.addMessage("alice", small);
    const maildrop = await store.openMaildrop("alice");
    const signals: AbortSignal[] = [];
    const recording: Maildrop = {
      messages: maildrop.messages,
      read: (index, signal) => {
        if (signal !== undefined) signals.push(signal);
        return maildrop.read(index, signal);
      },
      commit: (uids) => maildrop.commit(uids),
      release: () => maildrop.release(),
    };
    const host = new MemoryHost(context);
    const phase = new TransactionPhase(host, "alice", new Mailbox(recording));
    for (const line of ["RETR 2", "TOP 1 0", "RETR 2", "RETR 1"])
      await phase.command(command(line));
    expect(host.take().map((action) => action.type === "body" && action.bytes.toString())).toEqual([
      small,
      "Subject: big\r\n\r\n",
      small,
      big,
    ]);
    const [first, top, third, fourth] = signals;
    expect(top).toBe(first);
    expect(top?.aborted).toBe(true);
    expect(third).not.toBe(top);
    expect(fourth).toBe(third);
    expect(fourth?.aborted).toBe(false);
  });

  it("a store that fails after the first chunk ends the session with a truncated answer", async () => {
    const { context } = memoryContext();
    contexts.push(context);
    const messages = [{ uid: "u1", size: 10 }];
    const failing: Maildrop = {
      messages,
      read: () => ({
        async *[Symbol.asyncIterator]() {
          yield Buffer.from("Subject: ");
          throw new Error("disk gone");
        },
      }),
      commit: async () => {},
      release: async () => {},
    };
    const host = new MemoryHost(context);
    const phase = new TransactionPhase(host, "alice", new Mailbox(failing));
    await phase.command(command("RETR 1"));
    expect(host.take()).toEqual([
      { type: "terminate", reply: { ok: false, code: "SYS/TEMP", text: "message stream failed" } },
    ]);
  });

  it("QUIT commits the marked deletions, then releases the lock and ends", async () => {
    const { phase, host, store, outcomes } = await setup();
    phase.command(command("DELE 1"));
    host.take();
    await phase.command(command("QUIT"));
    expect(host.take()).toEqual([reply(true, "bye, 1 deleted, 2 left"), { type: "end" }]);
    expect(store.messages("alice").map((m) => m.uid)).toEqual(["u2", "u3"]);
    expect(store.isLocked("alice")).toBe(false);
    await phase.closed();
    expect(outcomes).toEqual(["quit"]);
  });

  it("a failed commit deletes nothing and answers [SYS/TEMP]", async () => {
    const { phase, host, store, outcomes } = await setup({ failCommit: true });
    phase.command(command("DELE 1"));
    host.take();
    await phase.command(command("QUIT"));
    expect(host.take()).toEqual([
      reply(false, "some deleted messages not removed", "SYS/TEMP"),
      { type: "end" },
    ]);
    expect(store.messages("alice")).toHaveLength(3);
    await phase.closed();
    expect(outcomes).toEqual(["update-failed"]);
  });

  it("a session that ends without QUIT deletes nothing and says why it ended", async () => {
    const dropped = await setup();
    dropped.phase.command(command("DELE 1"));
    await dropped.phase.closed();
    expect(dropped.store.messages("alice")).toHaveLength(3);
    expect(dropped.store.isLocked("alice")).toBe(false);
    expect(dropped.outcomes).toEqual(["dropped"]);

    const idle = await setup();
    idle.phase.timedOut();
    await idle.phase.closed();
    expect(idle.outcomes).toEqual(["timeout"]);
  });

  it("lists the same capabilities as before login, and refuses AUTHORIZATION commands", async () => {
    const { phase, host } = await setup();
    phase.command(command("CAPA"));
    phase.command(command("STLS"));
    const [capa, ...rest] = host.take();
    expect(capa).toMatchObject({
      type: "lines",
      reply: { ok: true, text: "capability list follows" },
    });
    expect(capa?.type === "lines" && capa.lines).toContain("SASL PLAIN LOGIN CRAM-MD5");
    expect(rest).toEqual([reply(false, "unknown command"), { type: "bad-command" }]);
  });
});
