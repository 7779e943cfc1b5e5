import { readdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createMemoryTransport,
  createTestServer,
  parseTranscript,
  readTranscript,
  runTranscript,
  type TestServer,
  type Transcript,
  type TranscriptResult,
  testServerTransport,
} from "../../src/index";

const DIR = join(import.meta.dirname, "../../transcripts");
const FILES = readdirSync(DIR)
  .filter((f) => f.endsWith(".transcript"))
  .sort();

/** Passed, and really played: every step ran and passed, every expectation saw something. */
function expectPassed(result: TranscriptResult, transcript: Transcript): void {
  expect(result.failures, result.report).toEqual([]);
  expect(result.ok).toBe(true);
  expect(result.steps).toHaveLength(transcript.steps.length);
  expect(result.steps.filter((s) => s.status !== "passed")).toEqual([]);
  const expectations = result.steps.filter((s) => s.kind.startsWith("expect-"));
  expect(expectations.length).toBeGreaterThan(5);
  expect(expectations.filter((s) => s.actual === undefined)).toEqual([]);
}

let server: TestServer;
beforeAll(async () => {
  server = await createTestServer({ tls: true });
});
afterAll(() => server.close());

it("has the five transcripts", () => {
  expect(FILES).toEqual([
    "dele-rset.transcript",
    "in-use.transcript",
    "pipelining.transcript",
    "rfc1939-example.transcript",
    "stls.transcript",
  ]);
});

describe.each(FILES)("%s", (file) => {
  let transcript: Transcript;
  beforeAll(async () => {
    transcript = await readTranscript(join(DIR, file));
  });

  it("passes against pop3-server in memory (no socket)", async () => {
    const memory = createMemoryTransport();
    expectPassed(await runTranscript(transcript, memory), transcript);
    await memory.close();
  });

  it("passes against pop3-server (createTestServer), plain port", async () => {
    expectPassed(await runTranscript(transcript, testServerTransport(server)), transcript);
  });

  it("passes over implicit TLS too, or fails at the answer to STLS if it uses STLS", async () => {
    const stls = transcript.steps.find((s) => s.kind === "send" && s.source === "C: STLS");
    const implicit = [
      createMemoryTransport({ implicitTls: true }),
      testServerTransport(server, { implicitTls: true }),
    ];
    for (const transport of implicit) {
      const result = await runTranscript(transcript, transport);
      if (stls === undefined) {
        expectPassed(result, transcript);
        continue;
      }
      const answer = transcript.steps.find((s) => s.kind === "expect-line" && s.line > stls.line);
      expect(result.ok).toBe(false);
      expect(result.failures[0]?.line).toBe(answer?.line);
      expect(result.failures[0]?.actual).toMatch(/^"-ERR /);
    }
  });

  it("fails, at that line, when its last exact server line is changed", async () => {
    const target = [...transcript.steps]
      .reverse()
      .find(
        (s) =>
          (s.kind === "expect-line" || s.kind === "expect-body-line") && s.match.type === "exact",
      );
    if (target === undefined) throw new Error("no exact server line");
    const lines = (await readFile(join(DIR, file), "utf8")).split("\n");
    const changed = `${lines[target.line - 1]}X`;
    lines[target.line - 1] = changed;
    const mutated = parseTranscript(lines.join("\n"), { name: file });
    for (const transport of [createMemoryTransport(), testServerTransport(server)]) {
      const result = await runTranscript(mutated, transport);
      expect(result.ok).toBe(false);
      expect(result.failures).toHaveLength(1);
      const [failure] = result.failures;
      expect(failure?.line).toBe(target.line);
      expect(failure?.source).toBe(changed);
      expect(failure?.expected).toMatch(/X"$/);
      expect(failure?.actual).toMatch(/^"/);
      expect(failure?.actual).not.toMatch(/X"$/);
      expect(failure?.message).toContain(`${file}:${target.line} `);
      expect(failure?.message).toContain(`  ${target.line} | ${changed}\n`);
      const after = result.steps.filter((s) => s.line > target.line);
      expect(after.filter((s) => s.status !== "skipped")).toEqual([]);
    }
  });
});

describe("what the sessions left behind", () => {
  it("dele-rset: only the QUIT deletion was committed, in memory and over a socket", async () => {
    const transcript = await readTranscript(join(DIR, "dele-rset.transcript"));
    const memory = createMemoryTransport();
    expect((await runTranscript(transcript, memory)).ok).toBe(true);
    expect(memory.store?.messages("alice").map((m) => m.uid)).toEqual(["m1", "m3"]);
    expect(memory.server?.stats()).toMatchObject({ sessions: 3, updates: 2, messagesDeleted: 1 });
    await memory.close();

    expect((await runTranscript(transcript, testServerTransport(server))).ok).toBe(true);
    expect(server.messages("alice").map((m) => m.uid)).toEqual(["m1", "m3"]);
    expect(server.deletions.map((d) => d.uids)).toEqual([["m2"]]);
  });

  it("in-use: session 1's deletion was committed and no lock is left", async () => {
    const transcript = await readTranscript(join(DIR, "in-use.transcript"));
    const memory = createMemoryTransport();
    expect((await runTranscript(transcript, memory)).ok).toBe(true);
    expect(memory.store?.messages("alice")).toEqual([]);
    expect(memory.store?.isLocked("alice")).toBe(false);
    await memory.close();
  });
});

describe("FORMAT.md", () => {
  it("its first example passes against both servers", async () => {
    const doc = await readFile(join(import.meta.dirname, "../../src/transcript/FORMAT.md"), "utf8");
    const example = /```text\n([\s\S]*?)```/.exec(doc)?.[1];
    if (example === undefined) throw new Error("no example");
    const transcript = parseTranscript(example, { name: "FORMAT.md" });
    expect(transcript.messages).toHaveLength(1);
    expectPassed(await runTranscript(transcript, createMemoryTransport()), transcript);
    expectPassed(await runTranscript(transcript, testServerTransport(server)), transcript);
  });
});
