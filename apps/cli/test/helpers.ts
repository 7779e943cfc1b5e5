import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createTestServer, type TestServer } from "pop3-test-harness";

export const CLI = fileURLToPath(new URL("../dist/index.js", import.meta.url));
export const USER = "alice";
export const PASSWORD = "Wonder-land 7!";

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  /** stdout as text. */
  readonly out: string;
  readonly err: string;
}

export interface RunOptions {
  readonly env?: Record<string, string | undefined>;
  readonly input?: string | Buffer;
  readonly cwd?: string;
}

/** A clean environment: nothing from the developer's POP3_* variables or ~/.netrc leaks in. */
export function cleanEnv(
  home: string,
  extra: Record<string, string | undefined> = {},
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env["PATH"] ?? "/usr/bin:/bin",
    HOME: home,
    NETRC: join(home, "no-such-netrc"),
    LANG: "C",
  };
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** Runs `node dist/index.js ...args` to completion. */
export function runCli(
  home: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: cleanEnv(home, options.env),
      cwd: options.cwd ?? home,
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const stdout = Buffer.concat(out);
      resolve({
        code,
        signal,
        stdout,
        out: stdout.toString("utf8"),
        err: Buffer.concat(err).toString("utf8"),
      });
    });
    child.stdin.end(options.input ?? "");
  });
}

export interface KillableRun {
  readonly child: ChildProcess;
  /** NDJSON events seen on stdout so far. */
  readonly events: Record<string, unknown>[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; err: string }>;
}

/**
 * Starts the CLI and calls `onLine` for each stdout line and each stderr line (failpoints); the
 * callback may kill the child.
 */
export function startCli(
  home: string,
  args: readonly string[],
  options: RunOptions & {
    onEvent?: (event: Record<string, unknown>, run: KillableRun) => void;
    onStderrLine?: (line: string, run: KillableRun) => void;
  } = {},
): KillableRun {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: cleanEnv(home, options.env),
    cwd: options.cwd ?? home,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const events: Record<string, unknown>[] = [];
  let err = "";
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; err: string }>(
    (resolve) => child.on("close", (code, signal) => resolve({ code, signal, err })),
  );
  const run: KillableRun = { child, events, exited };
  let carry = "";
  child.stdout?.setEncoding("utf8");
  child.stdout?.on("data", (chunk: string) => {
    const lines = (carry + chunk).split("\n");
    carry = lines.pop() ?? "";
    for (const line of lines) {
      if (line.trim() === "") continue;
      const event = JSON.parse(line) as Record<string, unknown>;
      events.push(event);
      options.onEvent?.(event, run);
    }
  });
  let errCarry = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    err += chunk;
    const lines = (errCarry + chunk).split("\n");
    errCarry = lines.pop() ?? "";
    for (const line of lines) options.onStderrLine?.(line, run);
  });
  return run;
}

export async function tempDir(prefix = "pop3-cli-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}

export interface Fixture {
  readonly server: TestServer;
  readonly home: string;
  readonly caFile: string;
  /** pop3://alice@127.0.0.1:<port> (STLS) */
  readonly url: string;
  /** pop3s://alice@127.0.0.1:<tlsPort> */
  readonly tlsUrl: string;
  /** The flags every connecting command needs: trust the test certificate. */
  readonly trust: readonly string[];
  /** The environment with the password. */
  readonly env: Record<string, string>;
  close(): Promise<void>;
}

/** A test server with TLS and user alice, a temp HOME, and the certificate in a file. */
export async function startFixture(
  options: Parameters<typeof createTestServer>[0] = {},
): Promise<Fixture> {
  const server = await createTestServer({ tls: true, users: { [USER]: PASSWORD }, ...options });
  const home = await tempDir();
  const caFile = join(home, "ca.pem");
  await writeFile(caFile, server.certificate?.cert ?? "");
  return {
    server,
    home,
    caFile,
    url: `pop3://${USER}@127.0.0.1:${server.port}`,
    tlsUrl: `pop3s://${USER}@127.0.0.1:${server.tlsPort}`,
    trust: ["--ca", caFile],
    env: { POP3_PASSWORD: PASSWORD },
    close: async () => {
      await server.close();
      await removeDir(home);
    },
  };
}

/** Waits until the server has released every session (after a client was killed). */
export async function serverIdle(server: TestServer): Promise<void> {
  for (let i = 0; i < 500 && server.stats().activeConnections > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Deterministic pseudo-random numbers (mulberry32), so a failing run can be replayed. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Test messages in their CRLF form (as a server serves them): dot lines, `From ` lines that mbox
 * must quote, 8-bit bytes, long lines, and a few large ones.
 */
export function makeMessages(
  count: number,
  options: { large?: readonly number[]; seed?: number } = {},
): Buffer[] {
  const rand = random(options.seed ?? 1);
  const large = new Set(options.large ?? []);
  const messages: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const head = [
      i % 3 === 0 ? "Return-Path: <sender@example.org>" : undefined,
      `From: Sender ${i} <sender${i}@example.org>`,
      "To: alice@example.org",
      `Subject: message ${i + 1}`,
      `Message-ID: <m${i}.${Math.floor(rand() * 1e9)}@example.org>`,
      "",
    ].filter((l) => l !== undefined);
    const body: string[] = [
      "From the start of this line, mbox must quote it.",
      ">From an already quoted line",
      ">>From twice",
      ".a line with a leading dot",
      "..two dots",
      ".",
      "Fromage is not a From_ line",
      "",
      `x${"y".repeat(Math.floor(rand() * 3000))}`,
    ];
    if (large.has(i)) {
      const target = 600_000 + Math.floor(rand() * 1_400_000);
      let size = 0;
      for (let n = 0; size < target; n++) {
        const line = `${n % 40 === 0 ? "." : n % 41 === 0 ? "From " : ""}${"0123456789abcdef".repeat(4)} ${n}`;
        body.push(line);
        size += line.length + 2;
      }
    }
    const text = Buffer.from(`${[...head, ...body].join("\r\n")}\r\n`, "latin1");
    const eightBit = Buffer.from([0xe9, 0xe8, 0xff, 0x80, 0x20, 0xc3, 0xa9, 0x0d, 0x0a]);
    messages.push(Buffer.concat([text, eightBit]));
  }
  return messages;
}

/** Every file of a Maildir's new/ and cur/, with its bytes; and what is left in tmp/. */
export async function readMaildir(
  dir: string,
): Promise<{ files: Map<string, Buffer>; tmp: string[] }> {
  const files = new Map<string, Buffer>();
  for (const sub of ["new", "cur"]) {
    for (const name of await readdir(join(dir, sub)).catch(() => [] as string[])) {
      files.set(`${sub}/${name}`, await readFile(join(dir, sub, name)));
    }
  }
  const tmp = await readdir(join(dir, "tmp")).catch(() => [] as string[]);
  return { files, tmp };
}

/**
 * Splits an mboxrd file into its messages, back in CRLF form: drops the From_ line and our
 * X-POP3-UIDL header (returned as `uid`), un-quotes `>From `, and removes the blank separator.
 */
export function parseMbox(
  bytes: Buffer,
  options: { lenient?: boolean } = {},
): { uid: string; bytes: Buffer }[] {
  const text = bytes.toString("latin1");
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const messages: { uid: string; lines: string[] }[] = [];
  let previousBlank = true;
  for (const line of lines) {
    if (previousBlank && line.startsWith("From ")) {
      messages.push({ uid: "", lines: [] });
    } else {
      const current = messages.at(-1);
      if (current === undefined) throw new Error("mbox does not start with a From_ line");
      if (current.uid === "" && current.lines.length === 0 && line.startsWith("X-POP3-UIDL: ")) {
        current.uid = line.slice("X-POP3-UIDL: ".length).split(" ")[0] ?? "";
      } else {
        current.lines.push(line);
      }
    }
    previousBlank = line === "";
  }
  // Lenient: an interrupted append at the end (cut back by the next run) is left out.
  if (options.lenient === true && messages.at(-1)?.lines.at(-1) !== "") messages.pop();
  return messages.map((m) => {
    const body = m.lines.slice();
    if (body.at(-1) !== "") throw new Error(`message ${m.uid} is not followed by a blank line`);
    body.pop();
    const unquoted = body.map((l) => (/^>+From /.test(l) ? l.slice(1) : l));
    return { uid: m.uid, bytes: Buffer.from(unquoted.map((l) => `${l}\r\n`).join(""), "latin1") };
  });
}
