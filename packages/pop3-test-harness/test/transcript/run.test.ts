import { createServer as createNetServer } from "node:net";
import { MemoryStore } from "pop3-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createMemoryTransport,
  createSocketTransport,
  createTestServer,
  runTranscript,
  type TestServer,
  type TranscriptResult,
  TranscriptSyntaxError,
  type TranscriptTransport,
  testServerTransport,
} from "../../src/index";

let server: TestServer;
beforeAll(async () => {
  server = await createTestServer({ tls: true });
});
afterAll(() => server.close());

const HEADER = ["user alice wonderland", 'message alice uid=a1 "Subject: a\\r\\n\\r\\n.b\\r\\n"'];
const LOGIN = ["S: +OK ...", "C: USER alice", "S: +OK ...", "C: PASS wonderland", "S: +OK ..."];
const PRELUDE = [...HEADER, ...LOGIN];

/** A logged-in transcript: `body` follows the login, its `at`-th line (1-based) is `PRELUDE.length + at`. */
const loggedIn = (body: readonly string[]): string => [...PRELUDE, ...body].join("\n");

const transports: [string, () => TranscriptTransport][] = [
  ["memory", () => createMemoryTransport()],
  ["pop3-server", () => testServerTransport(server)],
];

/** The run failed exactly once at `line`; steps before it passed, steps after it were skipped. */
function expectFailureAt(result: TranscriptResult, line: number): void {
  expect(result.ok).toBe(false);
  expect(result.failures).toHaveLength(1);
  expect(result.failures[0]?.line).toBe(line);
  for (const step of result.steps) {
    const expected = step.line < line ? "passed" : step.line > line ? "skipped" : step.status;
    expect(step.status, `line ${step.line}`).toBe(expected);
  }
  expect(result.steps.some((s) => s.line === line && s.status === "failed")).toBe(true);
}

describe.each(transports)("mismatches are caught (%s)", (_name, transport) => {
  const cases: [string, string[], number, string, string][] = [
    ["a wrong status line", ["C: STAT", "S: +OK 1 999"], 2, '"+OK 1 999"', '"+OK 1 18"'],
    [
      "a regex that does not match",
      ["C: STAT", "S~ \\+OK 2 \\d+"],
      2,
      "a line matching /\\+OK 2 \\d+/ (whole line)",
      '"+OK 1 18"',
    ],
    [
      "-ERR where +OK was expected",
      ["C: RETR 9", "S: +OK ..."],
      2,
      '"+OK", alone or followed by a space and more',
      '"-ERR no such message"',
    ],
    [
      "a body line compared unstuffed",
      ["C: RETR 1", "S: +OK ...", "S| Subject: a", "S|", "S| ..b", "S."],
      5,
      'body line "..b"',
      '".b"',
    ],
    [
      "a body shorter than expected",
      ["C: RETR 1", "S: +OK ...", "S| Subject: a", "S|", "S| .b", "S| more", "S."],
      6,
      'body line "more"',
      'the end of the multi-line answer "."',
    ],
    [
      "a body longer than expected",
      ["C: RETR 1", "S: +OK ...", "S| Subject: a", "S."],
      4,
      'the end of the multi-line answer "."',
      'another line: ""',
    ],
    [
      "a single-line answer read as a body",
      ["C: NOOP", "S: +OK", "S."],
      3,
      'the end of the multi-line answer "."',
      "nothing within 300 ms",
    ],
    [
      "a server that stays connected",
      ["C: NOOP", "S: +OK", "expect-close"],
      3,
      "the server to close the connection, sending nothing more",
      "the connection still open after 300 ms",
    ],
    [
      "a server that sends more before closing",
      ["C: NOOP", "expect-close"],
      2,
      "the server to close the connection, sending nothing more",
      '"+OK" and the connection still open',
    ],
    [
      "a server that has closed",
      ["C: QUIT", "S: +OK ...", "S: +OK"],
      3,
      '"+OK"',
      "the server closed the connection",
    ],
  ];

  it.each(cases)("%s", async (_what, body, at, expected, actual) => {
    const text = loggedIn(body);
    const result = await runTranscript(text, transport(), { timeoutMs: 300 });
    const line = PRELUDE.length + at;
    expectFailureAt(result, line);
    const failure = result.failures[0];
    expect(failure).toEqual({
      line,
      session: "",
      source: body[at - 1],
      expected,
      actual,
      message: [
        `transcript:${line} (${result.transport})`,
        `  ${line} | ${body[at - 1]}`,
        `  expected: ${expected}`,
        `  actual:   ${actual}`,
      ].join("\n"),
    });
    expect(result.report).toBe(failure?.message);
  });

  it("names the session and the transcript", async () => {
    const text = [
      ...HEADER,
      "S1: +OK ...",
      "C1: USER alice",
      "C1: PASS wonderland",
      "S1: +OK ...",
      "S1: +OK ...",
      "S2: +OK ...",
      "C2: USER alice",
      "C2: PASS wonderland",
      "S2: +OK ...",
      "S2: +OK ...",
    ].join("\n");
    const { parseTranscript } = await import("../../src/index");
    const result = await runTranscript(
      parseTranscript(text, { name: "two.transcript" }),
      transport(),
    );
    expectFailureAt(result, 12);
    expect(result.failures[0]).toMatchObject({
      session: "2",
      actual: '"-ERR [IN-USE] maildrop already locked by another session"',
    });
    expect(result.failures[0]?.message).toMatch(
      /^two\.transcript:12 \(session 2, .+\)\n {2}12 \| S2: \+OK \.\.\.\n/,
    );
  });

  it("passes the same scenarios when they are written right", async () => {
    const text = loggedIn([
      "C: STAT",
      "S: +OK 1 18",
      "C: RETR 9",
      "S: -ERR no such message",
      "C: RETR 1",
      "S: +OK ...",
      "S| Subject: a",
      "S|",
      "S| .b",
      "S.",
      "C: NOOP",
      "C: QUIT",
      "S: +OK",
      "S: +OK ...",
      "expect-close",
    ]);
    const result = await runTranscript(text, transport(), { timeoutMs: 2000 });
    expect(result.report).toMatch(/: 21 steps passed \(/);
    expect(result.ok).toBe(true);
  });
});

describe("the memory transport is pop3-server itself", () => {
  it("runs STLS as a real TLS handshake: the server then takes cleartext-only logins", async () => {
    const text = [
      "user alice wonderland",
      "S: +OK ...",
      "C: USER alice",
      "S: -ERR [AUTH] plaintext authentication disallowed without TLS",
      "C: STLS",
      "S: +OK begin TLS negotiation",
      "starttls",
      "C: USER alice",
      "S: +OK send PASS",
      "C: PASS wonderland",
      "S: +OK alice has 0 messages (0 octets)",
      "C: QUIT",
      "S: +OK bye, 0 deleted, 0 left",
      "expect-close",
    ].join("\n");
    const memory = createMemoryTransport({ server: { allowCleartextAuth: false } });
    const result = await runTranscript(text, memory);
    expect(result.report).toMatch(/: 14 steps passed \(memory\)$/);
    expect(memory.server?.stats()).toMatchObject({ connections: 1, sessions: 1 });
    await memory.close();
  });

  it("plays against a store of your own and leaves it as UPDATE made it", async () => {
    const store = new MemoryStore();
    store.addMessage("bob", "Subject: kept\r\n\r\n", { uid: "k1" });
    store.addMessage("bob", "Subject: gone\r\n\r\n", { uid: "g1" });
    const text = [
      "user bob builder",
      "S: +OK ...",
      "C: USER bob",
      "C: PASS builder",
      "C: UIDL",
      "C: DELE 2",
      "C: QUIT",
      "S: +OK ...",
      "S: +OK bob has 2 messages (34 octets)",
      "S: +OK unique-id listing follows",
      "S| 1 k1",
      "S| 2 g1",
      "S.",
      "S: +OK message 2 deleted",
      "S: +OK bye, 1 deleted, 1 left",
      "expect-close",
    ].join("\n");
    const memory = createMemoryTransport({ store });
    expect((await runTranscript(text, memory)).report).toBe("transcript: 16 steps passed (memory)");
    expect(memory.store).toBe(store);
    expect(store.messages("bob").map((m) => m.uid)).toEqual(["k1"]);
    await memory.close();
  });
});

describe("transport problems are failures at their line", () => {
  it("a refused connection", async () => {
    const port = await freePort();
    const result = await runTranscript(
      "# nothing listens\nS: +OK ...",
      createSocketTransport({ port }),
    );
    expectFailureAt(result, 2);
    expect(result.failures[0]).toMatchObject({ expected: "a connection" });
    expect(result.failures[0]?.actual).toMatch(/^no connection: .*ECONNREFUSED/);
  });

  it("an untrusted certificate on implicit TLS", async () => {
    const result = await runTranscript(
      "S: +OK ...",
      createSocketTransport({ port: server.tlsPort as number, tls: "implicit" }),
    );
    expectFailureAt(result, 1);
    expect(result.failures[0]?.actual).toMatch(/^no connection: .*certificate/);
  });

  it("starttls after a refused STLS", async () => {
    const text = "S: +OK ...\nC: STLS\nS: -ERR STLS not available\nstarttls";
    // The server has no certificate and reads the ClientHello as a command line: no handshake.
    const result = await runTranscript(text, createMemoryTransport({ stls: false }), {
      timeoutMs: 500,
    });
    expectFailureAt(result, 4);
    expect(result.failures[0]?.expected).toBe(
      "a TLS handshake, with nothing from the server before it",
    );
    expect(result.failures[0]?.actual).toMatch(/^no TLS: /);
  });

  it("a syntax error rejects before anything runs", async () => {
    let connected = false;
    const spy: TranscriptTransport = {
      name: "spy",
      connect: async () => {
        connected = true;
        throw new Error("unused");
      },
    };
    await expect(runTranscript("S: +OK\nbogus", spy)).rejects.toBeInstanceOf(TranscriptSyntaxError);
    expect(connected).toBe(false);
  });
});

/** A fake server that plays fixed bytes, one chunk per event-loop turn, and records writes. */
function scripted(
  chunks: readonly (string | Uint8Array)[],
  options: { end?: boolean } = {},
): TranscriptTransport & { writes: { session: string; text: string }[] } {
  const writes: { session: string; text: string }[] = [];
  return {
    name: "scripted",
    writes,
    async connect(session, sink) {
      let live = true;
      const queue = chunks.map((c) => (typeof c === "string" ? Buffer.from(c, "latin1") : c));
      const next = (): void => {
        if (!live) return;
        const chunk = queue.shift();
        if (chunk !== undefined) {
          sink.data(chunk);
          setImmediate(next);
        } else if (options.end) sink.end();
      };
      setImmediate(next);
      return {
        write: (bytes) => writes.push({ session, text: Buffer.from(bytes).toString("latin1") }),
        startTls: async () => {},
        close: () => {
          live = false;
        },
        destroy: () => {
          live = false;
        },
      };
    },
  };
}

const bytewise = (text: string): string[] => [...text];

describe("framing with pop3-core, whatever the chunking", () => {
  const wire = "+OK hi\r\n+OK 9 octets\r\n..a\r\n\r\nb.\r\n.\r\n+OK after\r\n";
  const transcript = [
    "S: +OK hi",
    "C: RETR 1",
    "S: +OK ...",
    "S| .a",
    "S|",
    "S| b.",
    "S.",
    "S: +OK after",
  ];

  it.each([
    ["one chunk", [wire]],
    ["byte by byte", bytewise(wire)],
    ["split around the terminator", [wire.slice(0, 36), wire.slice(36, 38), wire.slice(38)]],
  ])("reads a dot-stuffed body in %s", async (_name, chunks) => {
    const result = await runTranscript(transcript.join("\n"), scripted(chunks));
    expect(result.report).toBe("transcript: 9 steps passed (scripted)");
    const wrong = transcript.map((l) => (l === "S| .a" ? "S| ..a" : l)).join("\n");
    const failed = await runTranscript(wrong, scripted(chunks));
    expectFailureAt(failed, 4);
    expect(failed.failures[0]?.actual).toBe('".a"');
  });

  it("shows a partial line when the server closes", async () => {
    const result = await runTranscript(
      "S: +OK hi\nS: +OK partial",
      scripted(["+OK hi\r\n", "+OK par"], { end: true }),
    );
    expectFailureAt(result, 2);
    expect(result.failures[0]?.actual).toBe(
      'the server closed the connection after "+OK par" without a line end',
    );
  });

  it("shows a partial line on timeout", async () => {
    const result = await runTranscript("S: +OK", scripted(["+O"]), { timeoutMs: 200 });
    expectFailureAt(result, 1);
    expect(result.failures[0]?.actual).toBe('"+O" without a line end, nothing more within 200 ms');
  });

  it("shows raw bytes escaped", async () => {
    const result = await runTranscript('S: "+OK \\x00"', scripted(["+OK \x01\xff\r\n"]));
    expect(result.failures[0]).toMatchObject({
      expected: '"+OK \\x00"',
      actual: '"+OK \\x01\\xff"',
    });
  });

  it("refuses an over-long line", async () => {
    const result = await runTranscript("S: +OK ...", scripted([`+OK ${"x".repeat(70_000)}\r\n`]));
    expect(result.failures[0]?.actual).toBe("a line longer than 65536 octets");
  });

  it("fails STARTTLS when the server sent bytes after +OK", async () => {
    const result = await runTranscript(
      "S: +OK hi\nC: STLS\nS: +OK go\nstarttls",
      scripted(["+OK hi\r\n", "+OK go\r\nINJECTED\r\n"]),
    );
    expectFailureAt(result, 4);
    expect(result.failures[0]?.actual).toBe(
      '"INJECTED\\r\\n" from the server before the handshake',
    );
  });
});

describe("writes", () => {
  it("consecutive sends of a session are one write; anything else in between splits them", async () => {
    const transport = scripted([]);
    const text = [
      "C: USER a",
      "C: PASS b",
      'C> "NO"',
      "wait 1ms",
      'C> "OP\\r\\n"',
      "C2: X",
      "C: Y",
      "C2: Z",
      "C2: W",
    ].join("\n");
    const result = await runTranscript(text, transport);
    expect(result.ok).toBe(true);
    expect(transport.writes).toEqual([
      { session: "", text: "USER a\r\nPASS b\r\nNO" },
      { session: "", text: "OP\r\n" },
      { session: "2", text: "X\r\n" },
      { session: "", text: "Y\r\n" },
      { session: "2", text: "Z\r\nW\r\n" },
    ]);
  });

  it("the pipelining transcript sends its eight commands in one write", async () => {
    const { readTranscript } = await import("../../src/index");
    const { join } = await import("node:path");
    const transcript = await readTranscript(
      join(import.meta.dirname, "../../transcripts/pipelining.transcript"),
    );
    const memory = createMemoryTransport();
    const writes: string[] = [];
    const recording: TranscriptTransport = {
      name: "recording",
      prepare: (t) => memory.prepare?.(t),
      connect: async (session, sink) => {
        const connection = await memory.connect(session, sink);
        return {
          write: (bytes) => {
            writes.push(Buffer.from(bytes).toString());
            connection.write(bytes);
          },
          startTls: () => connection.startTls(),
          close: () => connection.close(),
          destroy: () => connection.destroy(),
        };
      },
    };
    const result = await runTranscript(transcript, recording);
    expect(result.ok).toBe(true);
    expect(writes).toEqual([
      "CAPA\r\n",
      "USER alice\r\nPASS wonderland\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 2\r\nTOP 1 0\r\nNOOP\r\n",
      "NO",
      "OP\r\nSTAT\r\n",
      "QUIT\r\n",
    ]);
  });
});

async function freePort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}
