import { inspect } from "node:util";
import { apopDigest, LocalProtocolError, RemoteProtocolError } from "pop3-core";
import { afterEach, describe, expect, it } from "vitest";
import {
  connect,
  MissingFinalNewlineWarning,
  type Pop3Client,
  type TraceEvent,
} from "../src/index";
import {
  goodServer,
  MESSAGE,
  type Script,
  type ScriptedServer,
  scriptedServer,
} from "./scripted-server";

let server: ScriptedServer | undefined;
let client: Pop3Client | undefined;
afterEach(async () => {
  client?.close();
  client = undefined;
  await server?.close();
  server = undefined;
});

async function plainClient(port: number, extra: Partial<Parameters<typeof connect>[0]> = {}) {
  return connect({ host: "127.0.0.1", port, tls: "none", ...extra });
}

describe("pop3-client against a scripted server", () => {
  it("runs a whole session: login, STAT, LIST, UIDL, RETR, TOP, DELE, QUIT", async () => {
    server = await scriptedServer({ greeting: "+OK ready <1.2@test>\r\n", answer: goodServer() });
    client = await plainClient(server.port);
    expect(client.greeting.apopTimestamp).toBe("<1.2@test>");
    expect(client.capabilityList.has("PIPELINING")).toBe(true);
    await client.login({ user: "alice", password: "secret", mechanism: "USER" });
    expect(client.state).toBe("TRANSACTION");
    expect(await client.stat()).toEqual({ count: 2, size: MESSAGE.length * 2 });
    expect(await client.list()).toEqual([
      { msg: 1, size: MESSAGE.length },
      { msg: 2, size: MESSAGE.length },
    ]);
    expect(await client.uidl(2)).toEqual({ msg: 2, uid: "uid-two" });
    expect((await client.retrieveBytes(1)).toString("latin1")).toBe(MESSAGE);
    expect((await (await client.top(1, 0)).bytes()).toString()).toBe(
      "From: a@example.org\r\nSubject: hi\r\n\r\n",
    );
    await client.delete(1);
    expect(await client.quit()).toEqual({ committed: true, reply: { ok: true, text: "bye" } });
  });

  it("gets the same results when every reply arrives one byte at a time", async () => {
    server = await scriptedServer({ answer: goodServer(), chunkSize: 1 });
    client = await plainClient(server.port);
    await client.login({ user: "alice", password: "secret" });
    expect(await client.uidl()).toEqual([
      { msg: 1, uid: "uid-one" },
      { msg: 2, uid: "uid-two" },
    ]);
    expect((await client.retrieveBytes(2)).toString("latin1")).toBe(MESSAGE);
  });

  it("pipelines when the server advertises PIPELINING, and not otherwise", async () => {
    server = await scriptedServer({ answer: goodServer({ pipelining: true }) });
    client = await plainClient(server.port);
    await client.login({ user: "alice", password: "secret" });
    const start = server.received.length;
    const results = await Promise.all([
      client.retrieveBytes(1),
      client.retrieveBytes(2),
      client.noop(),
    ]);
    expect(results[0]?.toString("latin1")).toBe(MESSAGE);
    expect(server.received.slice(start)).toEqual(["LIST 1", "RETR 1", "LIST 2", "RETR 2", "NOOP"]);
    expect(Math.max(...server.linesPerRead)).toBeGreaterThan(1);

    const serial = await scriptedServer({ answer: goodServer({ pipelining: false }) });
    const other = await plainClient(serial.port);
    await other.login({ user: "alice", password: "secret" });
    await Promise.all([other.retrieveBytes(1), other.retrieveBytes(2), other.noop()]);
    expect(Math.max(...serial.linesPerRead)).toBe(1);
    other.close();
    await serial.close();
  });

  it("reports -ERR with its response code and whether a retry makes sense", async () => {
    server = await scriptedServer({
      answer: (line) => {
        if (line.startsWith("CAPA")) return "+OK\r\nUSER\r\n.\r\n";
        if (line.startsWith("USER")) return "+OK\r\n";
        return "-ERR [IN-USE] maildrop locked\r\n";
      },
    });
    client = await plainClient(server.port);
    const error = await client
      .login({ user: "alice", password: "secret" })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: "POP3_SERVER_ERROR",
      responseCode: "IN-USE",
      retryable: true,
    });
    expect(String((error as Error).message)).not.toContain("secret");
  });

  it("never puts a password in errors or traces, and refuses CR/LF before sending", async () => {
    const trace: TraceEvent[] = [];
    server = await scriptedServer({ answer: goodServer() });
    client = await plainClient(server.port, { trace: (e) => trace.push(e) });
    const bad = await client
      .login({ user: "alice", password: "hunter2\r\nDELE 1", mechanism: "USER" })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(LocalProtocolError);
    expect(String((bad as Error).message)).not.toContain("hunter2");
    expect(server.received).not.toContain("DELE 1");
    const injected = await client
      .login({ user: "alice\r\nDELE 1", password: "x", mechanism: "USER" })
      .catch((e: unknown) => e);
    expect(injected).toBeInstanceOf(LocalProtocolError);
    await client.login({ user: "alice", password: "secret", mechanism: "USER" });
    expect(trace.map((t) => t.line)).toContain("PASS ***");
    expect(JSON.stringify(trace)).not.toContain("secret");
    expect(server.received.some((l) => l.startsWith("DELE"))).toBe(false);
  });

  it("never shows the APOP digest in traces or errors (it allows offline guessing)", async () => {
    const timestamp = "<1896.697170952@dbc.mtview.ca.us>";
    const digest = apopDigest(timestamp, "secret");
    const answer = goodServer();
    let refusals = 2;
    server = await scriptedServer({
      greeting: `+OK ready ${timestamp}\r\n`,
      answer: (line, socket) => {
        if (!line.startsWith("APOP")) return answer(line, socket);
        if (refusals-- > 0) return "-ERR [AUTH] permission denied\r\n";
        return line === `APOP alice ${digest}` ? "+OK logged in\r\n" : "-ERR wrong\r\n";
      },
    });
    const trace: TraceEvent[] = [];
    client = await plainClient(server.port, { trace: (e) => trace.push(e) });
    const errors = [
      await client
        .login({ user: "alice", password: "secret", mechanism: "APOP" })
        .catch((e: unknown) => e),
      await client.command(`APOP alice ${digest}`).catch((e: unknown) => e),
    ];
    await client.login({ user: "alice", password: "secret", mechanism: "APOP" });
    expect(client.state).toBe("TRANSACTION");
    // The digest did go to the server, three times: the test would see it if it leaked.
    expect(server.received.filter((l) => l === `APOP alice ${digest}`)).toHaveLength(3);
    for (const error of errors) {
      expect(error).toMatchObject({ code: "POP3_SERVER_ERROR", command: "APOP alice ***" });
      const shown = [
        String(error),
        inspect(error, { depth: 10, showHidden: true }),
        JSON.stringify(error),
        JSON.stringify(Object.entries(error as object)),
      ].join("\n");
      expect(shown).not.toContain(digest);
    }
    expect(trace.filter((t) => t.direction === "send").map((t) => t.line)).toEqual([
      "CAPA",
      "APOP alice ***",
      "APOP alice ***",
      "APOP alice ***",
      "CAPA",
    ]);
    expect(JSON.stringify(trace)).not.toContain(digest);
  });

  it("fails connecting when the server offers no STLS, unless cleartext is allowed", async () => {
    server = await scriptedServer({ answer: goodServer() });
    const error = await connect({ host: "127.0.0.1", port: server.port }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "POP3_TLS" });
    client = await connect({ host: "127.0.0.1", port: server.port, allowCleartext: true });
    expect(client.secure).toBe(false);
  });

  it("treats bytes after the +OK to STLS as an attack and closes", async () => {
    server = await scriptedServer({
      answer: (line) => {
        if (line === "CAPA") return "+OK\r\nSTLS\r\n.\r\n";
        if (line === "STLS") return "+OK begin\r\n+OK injected\r\n";
        return undefined;
      },
    });
    const error = await connect({ host: "127.0.0.1", port: server.port }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "POP3_UNEXPECTED_DATA" });
  });
});

/**
 * A server offering SASL PLAIN and XOAUTH2 that accepts exactly `expected` as the client's message,
 * whether it comes on the AUTH line or after an empty challenge.
 */
function saslServer(expected: Buffer): Script["answer"] {
  let awaitingResponse = false;
  const check = (base64: string): string =>
    Buffer.from(base64, "base64").equals(expected) ? "+OK logged in\r\n" : "-ERR [AUTH] no\r\n";
  return (line) => {
    if (awaitingResponse) {
      awaitingResponse = false;
      return check(line);
    }
    const [keyword, , response] = line.split(" ");
    if (keyword === "CAPA") return "+OK\r\nUSER\r\nSASL PLAIN XOAUTH2\r\n.\r\n";
    if (keyword !== "AUTH") return "-ERR unknown command\r\n";
    if (response !== undefined) return check(response);
    awaitingResponse = true;
    return "+ \r\n";
  };
}

describe("the initial response and the 255-octet AUTH line (RFC 5034 §4)", () => {
  const PASSWORD = "secret";
  const TOKEN = "ya29.token-0123456789";
  it.each([
    // 85 characters of 2 octets: PLAIN's line is 253 octets; one € (3 octets) more makes it 257.
    ["PLAIN", 253, true, "Ω".repeat(85)],
    ["PLAIN", 257, false, `${"Ω".repeat(85)}€`],
    // XOAUTH2's message is the user name's octets + 41: 255 octets exactly, then 259.
    ["XOAUTH2", 255, true, `${"ß".repeat(69)}x`],
    ["XOAUTH2", 259, false, "ß".repeat(71)],
  ] as const)(
    "%s with a multi-byte user name: a %i-octet line carries the initial response: %s",
    async (mechanism, octets, inline, user) => {
      const message = Buffer.from(
        mechanism === "PLAIN"
          ? `\0${user}\0${PASSWORD}`
          : `user=${user}\x01auth=Bearer ${TOKEN}\x01\x01`,
      );
      const base64 = message.toString("base64");
      expect(`AUTH ${mechanism} ${base64}\r\n`.length).toBe(octets);
      server = await scriptedServer({ answer: saslServer(message) });
      client = await plainClient(server.port);
      await client.login(
        mechanism === "PLAIN"
          ? { user, password: PASSWORD, mechanism }
          : { user, token: TOKEN, mechanism },
      );
      expect(client.state).toBe("TRANSACTION");
      const auth = server.received.filter((line) => !line.startsWith("CAPA"));
      expect(auth).toEqual(
        inline ? [`AUTH ${mechanism} ${base64}`] : [`AUTH ${mechanism}`, base64],
      );
    },
  );
});

describe("LANG (RFC 6856)", () => {
  it("reads language listings in UTF-8 with core's parser, and the answer to LANG tag", async () => {
    server = await scriptedServer({
      answer: (line) => {
        if (line === "CAPA") return "+OK\r\nUSER\r\nLANG\r\n.\r\n";
        if (line === "LANG")
          return Buffer.from(
            "+OK Language listing follows\r\nen English\r\nes Español\r\nzh-Hant  繁體中文\r\nx-none\r\n.\r\n",
          );
        if (line === "LANG es") return Buffer.from("+OK es Idioma cambiado\r\n");
        if (line === "LANG fr") return "+OK\r\n";
        if (line === "NOOP") return "+OK\r\n";
        return "-ERR unknown command\r\n";
      },
    });
    client = await plainClient(server.port);
    expect(await client.lang()).toEqual([
      { tag: "en", description: "English" },
      { tag: "es", description: "Español" },
      { tag: "zh-Hant", description: " 繁體中文" },
      { tag: "x-none", description: "" },
    ]);
    expect(await client.lang("es")).toEqual([{ tag: "es", description: "Idioma cambiado" }]);
    expect(await client.lang("fr")).toEqual([{ tag: "fr", description: "" }]);
  });

  it("rejects a listing line that is not a language tag, and the connection goes on", async () => {
    server = await scriptedServer({
      answer: (line) => {
        if (line === "CAPA") return "+OK\r\nUSER\r\n.\r\n";
        if (line === "LANG") return "+OK\r\nen English\r\n not a tag\r\n.\r\n";
        return "+OK\r\n";
      },
    });
    client = await plainClient(server.port);
    await expect(client.lang()).rejects.toMatchObject({ code: "POP3_PROTOCOL" });
    await client.login({ user: "alice", password: "secret", mechanism: "USER" });
    await expect(client.noop()).resolves.toBeUndefined();
  });
});

describe("faults", () => {
  it("times out on a server that never greets, and on one that stops answering", async () => {
    server = await scriptedServer({ greeting: null, answer: () => undefined });
    const silent = await plainClient(server.port, { timeouts: { greeting: 200 } }).catch(
      (e: unknown) => e,
    );
    expect(silent).toMatchObject({ code: "POP3_TIMEOUT" });
    await server.close();

    server = await scriptedServer({ answer: (line) => (line === "CAPA" ? "-ERR\r\n" : undefined) });
    client = await plainClient(server.port, { timeouts: { command: 200 } });
    await expect(client.login({ user: "alice", password: "x" })).rejects.toMatchObject({
      code: "POP3_TIMEOUT",
    });
    await expect(client.capabilities()).rejects.toMatchObject({ code: "POP3_TIMEOUT" });
  });

  it("fails the stream when the connection drops in the middle of a RETR", async () => {
    const answer = goodServer();
    server = await scriptedServer({
      answer: (line, socket) => {
        if (!line.startsWith("RETR")) return answer(line, socket);
        socket.end(`+OK\r\n${MESSAGE.slice(0, 20)}`);
        return undefined;
      },
    });
    client = await plainClient(server.port);
    await client.login({ user: "alice", password: "secret" });
    const stream = await client.retrieve(1);
    await expect(stream.bytes()).rejects.toMatchObject({ code: "POP3_CLOSED" });
    await expect(client.noop()).rejects.toMatchObject({ code: "POP3_CLOSED" });
  });

  it("detects a wrong size (a server that forgets dot-stuffing) and then never trusts the stream", async () => {
    const answer = goodServer();
    server = await scriptedServer({
      answer: (line, socket) => {
        if (line.startsWith("RETR")) return `+OK\r\nline one\r\n.\r\nline three\r\n.\r\n`;
        if (line.startsWith("LIST 1")) return "+OK 1 26\r\n";
        return answer(line, socket);
      },
    });
    client = await plainClient(server.port);
    await client.login({ user: "alice", password: "secret" });
    const stream = await client.retrieve(1);
    await expect(stream.bytes()).rejects.toMatchObject({
      code: "POP3_TRUNCATED",
      expected: 26,
      received: 10,
    });
    // The rest of the unstuffed body is not a reply: the connection is given up, not misread.
    await expect(client.noop()).rejects.toBeInstanceOf(RemoteProtocolError);
  });

  it("keeps the error of a stream that fails before anyone reads it, for its reader", async () => {
    // What the CLI's consumeNow() once did by hand: MessageStream has its own 'error' listener.
    const answer = goodServer();
    server = await scriptedServer({
      answer: (line, socket) => {
        if (line.startsWith("RETR")) return "+OK\r\nshort\r\n.\r\n";
        if (line.startsWith("LIST 1")) return "+OK 1 500\r\n";
        return answer(line, socket);
      },
    });
    client = await plainClient(server.port);
    await client.login({ user: "alice", password: "secret" });
    const stream = await client.retrieve(1);
    // No 'error' listener of ours: an unhandled 'error' event would fail this test run.
    await new Promise<void>((resolve) => stream.once("close", () => resolve()));
    expect(stream.errored).toMatchObject({ code: "POP3_TRUNCATED", expected: 500, received: 7 });
    await expect(stream.bytes()).rejects.toMatchObject({ code: "POP3_TRUNCATED" });
  });

  it("accepts a message without final newline that arrives with the CRLF the server added, and warns", async () => {
    // Dovecot: LIST counts the file as stored, RETR ends the last line with CRLF (RFC 1939 §3).
    const stored = "From: a@example.org\r\nSubject: no newline\r\n\r\nthe end, no newline";
    const answer = goodServer();
    server = await scriptedServer({
      answer: (line, socket) => {
        if (line === "LIST 1") return `+OK 1 ${stored.length}\r\n`;
        if (line === "RETR 1") return `+OK ${stored.length} octets\r\n${stored}\r\n.\r\n`;
        return answer(line, socket);
      },
      chunkSize: 1, // the end of the body is judged across reads
    });
    const warnings: Error[] = [];
    client = await plainClient(server.port, { onWarning: (w) => warnings.push(w) });
    await client.login({ user: "alice", password: "secret" });
    const stream = await client.retrieve(1);
    // What the server sent, that CRLF included.
    expect((await stream.bytes()).toString("latin1")).toBe(`${stored}\r\n`);
    expect(stream.received).toBe(stored.length + 2);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toBeInstanceOf(MissingFinalNewlineWarning);
    expect(warnings[0]).toMatchObject({
      code: "POP3_NO_FINAL_NEWLINE",
      expected: stored.length,
      received: stored.length + 2,
    });
    expect(await client.uidl(1)).toEqual({ msg: 1, uid: "uid-one" });
  });

  it.each([
    [
      "ended in a newline already: 2 octets more are a real mismatch",
      "a\r\nb\r\n",
      "a\r\nb\r\n\r\n",
    ],
    ["1 octet more", "a\r\nbcde", "a\r\nbcd\r\n"],
    ["4 octets more", "a\r\nb", "a\r\nb\r\n\r\n"],
    ["truncated", "a\r\nbcdefgh", "a\r\nbc\r\n"],
  ])("still fails any other size mismatch: %s", async (_, stored, sent) => {
    const answer = goodServer();
    server = await scriptedServer({
      answer: (line, socket) => {
        if (line === "LIST 1") return `+OK 1 ${stored.length}\r\n`;
        if (line === "RETR 1") return `+OK\r\n${sent}.\r\n`;
        return answer(line, socket);
      },
    });
    const warnings: Error[] = [];
    client = await plainClient(server.port, { onWarning: (w) => warnings.push(w) });
    await client.login({ user: "alice", password: "secret" });
    const stream = await client.retrieve(1);
    await expect(stream.bytes()).rejects.toMatchObject({
      code: "POP3_TRUNCATED",
      expected: stored.length,
      received: sent.length,
    });
    expect(warnings).toEqual([]);
  });

  it("only warns about a wrong size when asked to", async () => {
    const answer = goodServer();
    server = await scriptedServer({
      answer: (line, socket) =>
        line.startsWith("LIST 1") ? "+OK 1 999\r\n" : answer(line, socket),
    });
    const warnings: Error[] = [];
    client = await plainClient(server.port, {
      onSizeMismatch: "warn",
      onWarning: (w) => warnings.push(w),
    });
    await client.login({ user: "alice", password: "secret" });
    expect((await client.retrieveBytes(1)).toString("latin1")).toBe(MESSAGE);
    expect(warnings).toMatchObject([{ code: "POP3_TRUNCATED", expected: 999 }]);
  });

  it("resyncs after an aborted download: the next reply is read correctly", async () => {
    const answer = goodServer();
    const big = `${"x".repeat(70)}\r\n`.repeat(50_000);
    server = await scriptedServer({
      answer: (line, socket) => {
        if (line === "LIST 1") return `+OK 1 ${big.length}\r\n`;
        if (line === "RETR 1") return `+OK\r\n${big}.\r\n`;
        return answer(line, socket);
      },
    });
    client = await plainClient(server.port);
    await client.login({ user: "alice", password: "secret" });
    const controller = new AbortController();
    const stream = await client.retrieve(1, { signal: controller.signal });
    const first = await new Promise<Buffer>((resolve) => stream.once("data", resolve));
    expect(first.length).toBeGreaterThan(0);
    controller.abort();
    await expect(stream.bytes()).rejects.toMatchObject({ code: "POP3_ABORTED" });
    expect(await client.uidl(1)).toEqual({ msg: 1, uid: "uid-one" });
  });

  it("disposing sends RSET and QUIT, so nothing is deleted", async () => {
    server = await scriptedServer({ answer: goodServer() });
    {
      await using disposable = await plainClient(server.port);
      await disposable.login({ user: "alice", password: "secret" });
      await disposable.delete(1);
    }
    expect(server.received.slice(-3)).toEqual(["DELE 1", "RSET", "QUIT"]);
  });
});
