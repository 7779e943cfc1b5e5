import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EDGE_MESSAGES, RawClient, startServer, type TestServer, wireForm } from "../support";

let t: TestServer;
const names = Object.keys(EDGE_MESSAGES);

beforeEach(async () => {
  t = await startServer();
  for (const name of names) t.store.addMessage("alice", EDGE_MESSAGES[name] as Uint8Array);
});
afterEach(() => t.close());

describe("RFC 1939 commands", () => {
  it("greets with an APOP timestamp that differs on every connection", async () => {
    const a = await RawClient.connect(t.port);
    const b = await RawClient.connect(t.port);
    const [ga, gb] = [await a.line(), await b.line()];
    expect(ga).toMatch(/^\+OK POP3 server ready <[^<>@ ]+@test\.local>$/);
    expect(ga).not.toBe(gb);
    a.close();
    b.close();
  });

  it("STAT, LIST and UIDL report the RFC sizes and stable uids", async () => {
    const client = await RawClient.connect(t.port);
    await client.login();
    const sizes = names.map((n) => wireForm(EDGE_MESSAGES[n] as Uint8Array).length);
    const total = sizes.reduce((a, b) => a + b, 0);
    expect(await client.command("STAT")).toBe(`+OK ${names.length} ${total}`);
    expect(await client.command("LIST")).toMatch(/^\+OK/);
    expect(await client.lines()).toEqual(sizes.map((s, i) => `${i + 1} ${s}`));
    expect(await client.command("LIST 2")).toBe(`+OK 2 ${sizes[1]}`);
    expect(await client.command(`LIST ${names.length + 1}`)).toMatch(/^-ERR/);
    expect(await client.command("UIDL")).toMatch(/^\+OK/);
    const uids = await client.lines();
    expect(uids).toHaveLength(names.length);
    for (const line of uids) expect(line).toMatch(/^\d+ [\x21-\x7e]{1,70}$/);
    expect(await client.command("UIDL 1")).toBe(`+OK ${uids[0]}`);
    await client.command("QUIT");

    const again = await RawClient.connect(t.port);
    await again.login();
    await again.command("UIDL");
    expect(await again.lines()).toEqual(uids);
    again.close();
  });

  it("RETR sends every edge-case message byte for byte after unstuffing", async () => {
    const client = await RawClient.connect(t.port);
    await client.login();
    for (const [i, name] of names.entries()) {
      const expected = wireForm(EDGE_MESSAGES[name] as Uint8Array);
      expect(await client.command(`RETR ${i + 1}`)).toBe(`+OK ${expected.length} octets`);
      expect(await client.body(), name).toEqual(expected);
    }
    client.close();
  });

  it("TOP gives the header and n body lines, all of a short body, and is dot-stuffed", async () => {
    const client = await RawClient.connect(t.port);
    await client.login();
    expect(await client.command("TOP 1 0")).toMatch(/^\+OK/);
    expect((await client.body()).toString()).toBe("Subject: dots\r\n\r\n");
    expect(await client.command("TOP 1 2")).toMatch(/^\+OK/);
    expect((await client.body()).toString()).toBe(
      "Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n",
    );
    expect(await client.command("TOP 1 100")).toMatch(/^\+OK/);
    expect(await client.body()).toEqual(wireForm(EDGE_MESSAGES["dotLines"] as Uint8Array));
    expect(await client.command("TOP 99 1")).toMatch(/^-ERR/);
    client.close();
  });

  it("DELE hides a message from STAT, LIST and UIDL, keeps numbers, and RSET brings it back", async () => {
    const client = await RawClient.connect(t.port);
    await client.login();
    expect(await client.command("DELE 1")).toBe("+OK message 1 deleted");
    expect(await client.command("DELE 1")).toMatch(/^-ERR/);
    expect(await client.command("RETR 1")).toMatch(/^-ERR/);
    expect(await client.command("LIST 1")).toMatch(/^-ERR/);
    expect(await client.command("UIDL 1")).toMatch(/^-ERR/);
    expect(await client.command("STAT")).toMatch(new RegExp(`^\\+OK ${names.length - 1} `));
    await client.command("LIST");
    expect((await client.lines()).map((l) => l.split(" ")[0])).toEqual(
      names.slice(1).map((_, i) => String(i + 2)),
    );
    expect(await client.command("LIST 2")).toMatch(/^\+OK 2 /);
    expect(await client.command("RSET")).toMatch(
      new RegExp(`^\\+OK maildrop has ${names.length} messages`),
    );
    expect(await client.command("LIST 1")).toMatch(/^\+OK 1 /);
    client.close();
  });

  it("QUIT after DELE removes the messages, and only then", async () => {
    const client = await RawClient.connect(t.port);
    await client.login();
    await client.command("DELE 1");
    await client.command("DELE 3");
    expect(t.store.messages("alice")).toHaveLength(names.length);
    expect(await client.command("QUIT")).toMatch(/^\+OK/);
    await client.closed();
    expect(t.store.messages("alice")).toHaveLength(names.length - 2);
    expect(t.server.stats()).toMatchObject({ updates: 1, messagesDeleted: 2 });
  });

  it("a dropped connection deletes nothing and releases the lock", async () => {
    const client = await RawClient.connect(t.port);
    await client.login();
    await client.command("DELE 1");
    await client.command("DELE 2");
    client.close();
    const next = await RawClient.connect(t.port);
    await next.line();
    await next.command("USER alice");
    // The lock may take a moment to be released after the close.
    let reply = await next.command("PASS wonderland");
    for (let i = 0; reply?.includes("IN-USE") && i < 50; i++) {
      await new Promise((r) => setTimeout(r, 20));
      await next.command("USER alice");
      reply = await next.command("PASS wonderland");
    }
    expect(reply).toMatch(/^\+OK/);
    expect(t.store.messages("alice")).toHaveLength(names.length);
    next.close();
  });

  it("a second session for the same user gets -ERR [IN-USE]", async () => {
    const first = await RawClient.connect(t.port);
    await first.login();
    const second = await RawClient.connect(t.port);
    await second.line();
    await second.command("USER alice");
    expect(await second.command("PASS wonderland")).toMatch(/^-ERR \[IN-USE\]/);
    await first.command("QUIT");
    await first.closed();
    await second.command("USER alice");
    expect(await second.command("PASS wonderland")).toMatch(/^\+OK/);
    second.close();
  });

  it("a failed commit answers -ERR [SYS/TEMP] some deleted messages not removed, and deletes nothing", async () => {
    t.store.failCommit = () => true;
    const client = await RawClient.connect(t.port);
    await client.login();
    await client.command("DELE 1");
    expect(await client.command("QUIT")).toBe("-ERR [SYS/TEMP] some deleted messages not removed");
    await client.closed();
    expect(t.store.messages("alice")).toHaveLength(names.length);
  });

  it("answers wrong-state, unknown and malformed commands with -ERR and carries on", async () => {
    const client = await RawClient.connect(t.port);
    await client.line();
    expect(await client.command("STAT")).toMatch(/^-ERR/);
    expect(await client.command("PASS nouser")).toMatch(/^-ERR/);
    expect(await client.command("XYZZY")).toMatch(/^-ERR/);
    expect(await client.command("FOO")).toMatch(/^-ERR unknown command/);
    expect(await client.command("NOOP")).toMatch(/^-ERR/);
    await client.command("USER alice");
    await client.command("PASS wonderland");
    expect(await client.command("RETR abc")).toMatch(/^-ERR/);
    expect(await client.command("RETR 0")).toMatch(/^-ERR/);
    expect(await client.command("USER alice")).toMatch(/^-ERR/);
    expect(await client.command("NOOP")).toBe("+OK");
    client.close();
  });

  it("answers pipelined commands strictly in order", async () => {
    const client = await RawClient.connect(t.port);
    await client.line();
    client.send("USER alice\r\nPASS wonderland\r\nSTAT\r\nRETR 2\r\nLIST 1\r\nNOOP\r\nQUIT\r\n");
    expect(await client.line()).toMatch(/^\+OK/);
    expect(await client.line()).toMatch(/^\+OK alice has/);
    expect(await client.line()).toMatch(/^\+OK \d+ \d+$/);
    expect(await client.line()).toMatch(/octets$/);
    expect(await client.body()).toEqual(wireForm(EDGE_MESSAGES["loneDot"] as Uint8Array));
    expect(await client.line()).toMatch(/^\+OK 1 /);
    expect(await client.line()).toBe("+OK");
    expect(await client.line()).toMatch(/^\+OK bye/);
    await client.closed();
  });

  it("APOP logs in with the digest of the greeting's timestamp", async () => {
    const { apopDigest } = await import("pop3-core");
    const client = await RawClient.connect(t.port);
    const greeting = (await client.line()) ?? "";
    const timestamp = /<[^>]+>/.exec(greeting)?.[0] ?? "";
    expect(await client.command(`APOP alice ${apopDigest(timestamp, "wrong")}`)).toMatch(
      /^-ERR \[AUTH\]/,
    );
    expect(await client.command(`APOP alice ${apopDigest(timestamp, "wonderland")}`)).toMatch(
      /^\+OK/,
    );
    client.close();
  });

  it("a wrong password gets -ERR [AUTH] and three of them end the connection", async () => {
    const client = await RawClient.connect(t.port);
    await client.line();
    for (let i = 0; i < 3; i++) {
      await client.command("USER alice");
      expect(await client.command("PASS nope")).toBe("-ERR [AUTH] authentication failed");
    }
    await client.closed();
    expect(t.server.stats().authFailures).toBe(3);
  });
});
