/**
 * Interop with Python's standard-library poplib (a client nobody here wrote), driven through
 * poplib_client.py. poplib hands back each message as lines with the line ends cut off and the
 * dot-stuffing already undone; the script joins them with CRLF again (and a final CRLF) and
 * separately counts raw lines that did not end in CRLF, so the comparison with wireForm(stored)
 * is exact: a lost or extra dot, a lost byte or a bare LF on the wire all fail.
 */
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { startServer, type TestServer, USERS } from "../support";
import {
  byteDifference,
  caFiles,
  describePeer,
  type InteropMessage,
  probePeer,
  run,
  seed,
  tempDir,
  topForm,
} from "./peers";

const SCRIPT = fileURLToPath(new URL("./poplib_client.py", import.meta.url));
const PYTHON = process.env["POP3_PYTHON"] ?? "python3";

const python = probePeer(
  "python3 (poplib)",
  PYTHON,
  ["-c", "import poplib, ssl, json, base64, sys; print('Python', sys.version.split()[0])"],
  "apt-get install -y python3",
  (output) => {
    const line = output.trim();
    if (!/^Python 3\.\d+/.test(line)) throw new Error(`unexpected output: ${line}`);
    return line;
  },
);

type Step =
  | { op: "capa" | "stat" | "list" | "uidl" | "rset" | "noop" | "quit" | "close" }
  | { op: "retr" | "dele"; msg: number }
  | { op: "top"; msg: number; lines: number };

interface Plan {
  port: number;
  mode: "plain" | "stls" | "ssl";
  login?: "user" | "apop" | "none";
  user?: string;
  cafile?: string;
  servername?: string;
  steps: Step[];
}

interface StepResult {
  op: string;
  response?: string;
  lines?: string[];
  capabilities?: Record<string, string[]>;
  count?: number;
  size?: number;
  octets?: number;
  body?: string;
  nonCrlfLines: number;
}

interface PoplibOutput {
  ok: boolean;
  welcome: string | null;
  tls: string | null;
  stls?: string;
  user?: string;
  pass?: string;
  apop?: string;
  results: StepResult[];
  error?: string;
  errorType?: string;
}

async function poplib(plan: Plan, password: string = USERS.alice): Promise<PoplibOutput> {
  const full = { address: "127.0.0.1", servername: "localhost", user: "alice", ...plan };
  const result = await run(PYTHON, [SCRIPT, JSON.stringify(full)], {
    env: { POP3_PASSWORD: password },
  });
  if (result.code !== 0) {
    throw new Error(`poplib_client.py exited ${result.code ?? result.signal}: ${result.stderr}`);
  }
  return JSON.parse(result.stdout.toString("utf8")) as PoplibOutput;
}

function expectOk(output: PoplibOutput): void {
  expect(output.error, `poplib failed (${output.errorType})`).toBeUndefined();
  expect(output.ok).toBe(true);
}

/** Checks RETR results against the messages they asked for, byte for byte. */
function expectRetrieved(results: StepResult[], wanted: InteropMessage[]): void {
  expect(results).toHaveLength(wanted.length);
  for (const [i, message] of wanted.entries()) {
    const result = results[i] as StepResult;
    expect(result.response, message.name).toBe(`+OK ${message.expected.length} octets`);
    expect(result.octets, message.name).toBe(message.expected.length);
    expect(result.nonCrlfLines, `${message.name}: raw lines without CRLF`).toBe(0);
    const body = Buffer.from(result.body ?? "", "base64");
    expect(byteDifference(body, message.expected), message.name).toBeUndefined();
  }
}

const retrSteps = (count: number): Step[] =>
  Array.from({ length: count }, (_, i) => ({ op: "retr" as const, msg: i + 1 }));

/** The store holds exactly these messages, byte for byte. */
function expectStoreHolds(t: TestServer, wanted: InteropMessage[]): void {
  const left = t.store.messages("alice");
  expect(left).toHaveLength(wanted.length);
  for (const [i, message] of wanted.entries()) {
    const bytes = left[i]?.bytes ?? new Uint8Array();
    expect(byteDifference(bytes, message.stored), message.name).toBeUndefined();
  }
}

/** Waits (bounded) until the server has noticed a closed session and released the lock. */
async function unlocked(t: TestServer): Promise<void> {
  for (let i = 0; t.store.isLocked("alice") && i < 500; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  expect(t.store.isLocked("alice")).toBe(false);
}

describePeer(python, "interop: Python poplib", () => {
  const dir = tempDir("poplib");
  let ca: string;
  let wrongCa: string;
  let t: TestServer | undefined;
  let messages: InteropMessage[];
  const edgeCount = () => messages.length - 1;

  beforeAll(() => {
    ({ ca, wrongCa } = caFiles(dir.path));
  });
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });
  afterAll(() => dir.cleanup());

  async function server(overrides: Parameters<typeof startServer>[0] = {}): Promise<TestServer> {
    t = await startServer(overrides);
    messages = seed(t.store);
    return t;
  }

  it("USER/PASS on the plain port: CAPA, STAT, LIST, UIDL, and RETR of every message (30 MB included) byte for byte", async () => {
    const t = await server();
    const output = await poplib({
      port: t.port,
      mode: "plain",
      steps: [
        { op: "capa" },
        { op: "stat" },
        { op: "list" },
        { op: "uidl" },
        ...retrSteps(messages.length),
        { op: "quit" },
      ],
    });
    expectOk(output);
    expect(output.welcome).toMatch(/^\+OK .*<[^<>]+@test\.local>$/);
    expect(output.pass).toMatch(/^\+OK/);
    const [capa, stat, list, uidl, ...rest] = output.results as [
      StepResult,
      StepResult,
      StepResult,
      StepResult,
      ...StepResult[],
    ];
    expect(Object.keys(capa.capabilities ?? {})).toEqual(
      expect.arrayContaining(["TOP", "UIDL", "USER", "SASL", "STLS", "PIPELINING"]),
    );
    const sizes = messages.map((m) => m.expected.length);
    expect([stat.count, stat.size]).toEqual([messages.length, sizes.reduce((a, b) => a + b, 0)]);
    expect(list.lines).toEqual(sizes.map((size, i) => `${i + 1} ${size}`));
    const stored = t.store.messages("alice");
    expect(uidl.lines).toEqual(stored.map((m, i) => `${i + 1} ${m.uid}`));
    expectRetrieved(rest.slice(0, messages.length), messages);
    expect(rest.at(-1)?.response).toMatch(/^\+OK/);
    // Reading deletes nothing.
    expectStoreHolds(t, messages);
    // The 30 MB message makes this one take seconds; the timeout is only there to catch a hang.
  }, 300_000);

  it("APOP logs in (and a wrong secret is refused); TOP gives header plus n lines, dots intact", async () => {
    const t = await server();
    const wrong = await poplib({ port: t.port, mode: "plain", login: "apop", steps: [] }, "nope");
    expect(wrong.ok).toBe(false);
    expect(wrong.error).toMatch(/^-ERR \[AUTH\]/);
    await unlocked(t);

    const counts = [0, 1, 2, 1000];
    const steps: Step[] = [];
    for (let msg = 1; msg <= edgeCount(); msg++) {
      for (const lines of counts) steps.push({ op: "top", msg, lines });
    }
    steps.push({ op: "top", msg: messages.length, lines: 40 }, { op: "quit" });
    const output = await poplib({ port: t.port, mode: "plain", login: "apop", steps });
    expectOk(output);
    expect(output.apop).toMatch(/^\+OK/);
    let k = 0;
    for (const message of messages.slice(0, edgeCount())) {
      for (const lines of counts) {
        const result = output.results[k++] as StepResult;
        const label = `TOP ${message.name} ${lines}`;
        expect(result.response, label).toMatch(/^\+OK/);
        expect(result.nonCrlfLines, label).toBe(0);
        const body = Buffer.from(result.body ?? "", "base64");
        expect(byteDifference(body, topForm(message.expected, lines)), label).toBeUndefined();
      }
    }
    const big = output.results[k] as StepResult;
    const bigTop = topForm((messages.at(-1) as InteropMessage).expected, 40);
    expect(bigTop.toString("latin1")).toMatch(/\r\n\r\n(.*\r\n){40}$/);
    expect(byteDifference(Buffer.from(big.body ?? "", "base64"), bigTop)).toBeUndefined();
  }, 60_000);

  it("stls() on the plain port upgrades with a verified certificate; only then may it log in", async () => {
    const t = await server({ allowCleartextAuth: false });
    const cleartext = await poplib({ port: t.port, mode: "plain", steps: [] });
    expect(cleartext.ok).toBe(false);
    expect(cleartext.error).toMatch(/^-ERR/);
    await unlocked(t);

    const output = await poplib({
      port: t.port,
      mode: "stls",
      cafile: ca,
      steps: [{ op: "capa" }, { op: "uidl" }, ...retrSteps(edgeCount()), { op: "quit" }],
    });
    expectOk(output);
    expect(output.stls).toMatch(/^\+OK/);
    expect(output.tls).toMatch(/^TLSv1\.[23]$/);
    const [capa, uidl, ...rest] = output.results as [StepResult, StepResult, ...StepResult[]];
    expect(Object.keys(capa.capabilities ?? {})).toContain("USER");
    expect(Object.keys(capa.capabilities ?? {})).not.toContain("STLS");
    expect(uidl.lines).toEqual(t.store.messages("alice").map((m, i) => `${i + 1} ${m.uid}`));
    expectRetrieved(rest.slice(0, edgeCount()), messages.slice(0, edgeCount()));
  }, 60_000);

  it("POP3_SSL on the implicit-TLS port: verified certificate, RETR byte for byte", async () => {
    const t = await server();
    const output = await poplib({
      port: t.tlsPort,
      mode: "ssl",
      cafile: ca,
      steps: [{ op: "stat" }, ...retrSteps(edgeCount()), { op: "quit" }],
    });
    expectOk(output);
    expect(output.tls).toMatch(/^TLSv1\.[23]$/);
    expect(output.results[0]?.count).toBe(messages.length);
    expectRetrieved(output.results.slice(1, 1 + edgeCount()), messages.slice(0, edgeCount()));
  }, 60_000);

  it("the TLS checks are real: a same-named certificate with another key, or a wrong server name, is refused", async () => {
    const t = await server();
    const cases: Plan[] = [
      { port: t.tlsPort, mode: "ssl", cafile: wrongCa, steps: [] },
      { port: t.tlsPort, mode: "ssl", cafile: ca, servername: "wrong.example", steps: [] },
      { port: t.port, mode: "stls", cafile: wrongCa, steps: [] },
    ];
    for (const plan of cases) {
      const output = await poplib(plan);
      expect(output.ok, JSON.stringify(plan)).toBe(false);
      expect(output.errorType).toBe("SSLCertVerificationError");
    }
  }, 60_000);

  it("DELE then QUIT removes exactly those messages; DELE without QUIT removes nothing", async () => {
    const t = await server();
    const uids = t.store.messages("alice").map((m) => m.uid);
    const dropped = await poplib({
      port: t.port,
      mode: "plain",
      steps: [{ op: "dele", msg: 1 }, { op: "dele", msg: 2 }, { op: "close" }],
    });
    expectOk(dropped);
    await unlocked(t);
    expect(t.store.messages("alice")).toHaveLength(messages.length);

    const output2 = await poplib({
      port: t.port,
      mode: "plain",
      steps: [
        { op: "dele", msg: 1 },
        { op: "dele", msg: 3 },
        { op: "dele", msg: messages.length },
        { op: "stat" },
        { op: "quit" },
      ],
    });
    expectOk(output2);
    expect(output2.results.slice(0, 3).map((r) => r.response)).toEqual([
      "+OK message 1 deleted",
      "+OK message 3 deleted",
      `+OK message ${messages.length} deleted`,
    ]);
    expect(output2.results[3]?.count).toBe(messages.length - 3);
    expect(output2.results[4]?.response).toMatch(/^\+OK/);
    const deleted = [0, 2, messages.length - 1];
    const kept = messages.filter((_, i) => !deleted.includes(i));
    const left = t.store.messages("alice").map((m) => m.uid);
    expect(left).toEqual(uids.filter((_, i) => !deleted.includes(i)));
    expectStoreHolds(t, kept);
  }, 60_000);
});
