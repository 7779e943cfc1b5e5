/**
 * Shared pieces of the interop tests: finding the real clients, running them without blocking the
 * server (which lives in this same process), the message set, and strict byte comparison.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe } from "vitest";
import type { MemoryStore } from "../../src/index";
import { type Certificate, certificate, EDGE_MESSAGES, wireForm } from "../support";

/** CI sets this: a missing client then fails its tests instead of skipping them. */
export const REQUIRE_PEERS = process.env["POP3_REQUIRE_PEERS"] === "1";

export interface Peer {
  readonly name: string;
  /** Set when the tool is there and usable. */
  readonly version?: string;
  /** Why it cannot be used, when `version` is unset. */
  readonly missing?: string;
  /** How to get it on Debian. */
  readonly install: string;
}

/**
 * Runs `command args` once (at collection time, before any server starts, so a synchronous call
 * is fine) and asks `check` whether the output shows a usable tool: it returns the version line,
 * or throws with the reason.
 */
export function probePeer(
  name: string,
  command: string,
  args: readonly string[],
  install: string,
  check: (output: string) => string,
): Peer {
  const result = spawnSync(command, args, { encoding: "utf8", timeout: 20_000 });
  if (result.error !== undefined) {
    const code = (result.error as NodeJS.ErrnoException).code;
    return {
      name,
      install,
      missing: code === "ENOENT" ? `${command} is not installed` : String(result.error),
    };
  }
  try {
    return { name, install, version: check(`${result.stdout}${result.stderr}`) };
  } catch (error) {
    return { name, install, missing: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * `describe` for one peer. With the tool present the suite runs; without it the suite is skipped
 * and its title says why, unless POP3_REQUIRE_PEERS=1, where every test of the suite fails with
 * the reason instead.
 */
export function describePeer(peer: Peer, title: string, body: () => void): void {
  if (peer.version !== undefined) {
    describe(`${title} [${peer.version}]`, body);
    return;
  }
  const reason = `${peer.name} unavailable: ${peer.missing} (install: ${peer.install})`;
  if (REQUIRE_PEERS) {
    describe(title, () => {
      beforeAll(() => {
        throw new Error(`POP3_REQUIRE_PEERS=1 but ${reason}`);
      });
      body();
    });
    return;
  }
  const skipped = `${title} — SKIPPED: ${reason}; set POP3_REQUIRE_PEERS=1 to fail instead`;
  console.warn(`[interop] ${skipped}`);
  describe.skip(skipped, body);
}

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

/**
 * Runs a client asynchronously (a synchronous call would freeze the server in this process).
 * The child is killed by its own pid after `timeoutMs`; the result never rejects on a non-zero
 * exit, so tests can assert on failures too.
 */
export function run(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: { ...process.env, ...options.env },
      cwd: options.cwd,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out),
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
  });
}

/**
 * A temporary directory made on first use of `path` (so a skipped suite leaves nothing behind)
 * and removed by `cleanup`.
 */
export function tempDir(prefix: string): { readonly path: string; cleanup(): void } {
  let made: string | undefined;
  return {
    get path(): string {
      made ??= mkdtempSync(join(tmpdir(), `pop3-interop-${prefix}-`));
      return made;
    },
    cleanup(): void {
      if (made !== undefined) rmSync(made, { recursive: true, force: true });
      made = undefined;
    },
  };
}

/**
 * Another self-signed certificate for the same names as the test certificate (CN and SAN
 * `localhost`, IP 127.0.0.1) but a different key: trusting it instead of the real one must fail
 * the CA check alone, whatever the client thinks of host names.
 */
export function impostorCertificate(): Certificate {
  return certificate("localhost", "impostor");
}

/**
 * CA files for the clients: `ca` is the test certificate the server uses; `wrongCa` is the
 * impostor, same names, different key, which the clients must refuse to trust for our server.
 */
export function caFiles(dir: string): { ca: string; wrongCa: string } {
  const ca = join(dir, "ca.pem");
  const wrongCa = join(dir, "wrong-ca.pem");
  writeFileSync(ca, certificate().cert);
  writeFileSync(wrongCa, impostorCertificate().cert);
  return { ca, wrongCa };
}

export const BIG_MESSAGE_SIZE = 30 * 1024 * 1024;

const WORDS = (
  "the quick brown fox jumps over lazy dog mail server client octet line stuffing " +
  "message header body retrieve delete update maildrop transaction authorization " +
  "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor"
).split(" ");

/**
 * A realistic 30 MB plain-text mail: a real-looking header, then CRLF lines of up to 76
 * characters with paragraph breaks, lines starting with `.` and `..`, lines that are just `.` or
 * `..`, and a lone `.` as the very last line (the one right before the terminator). Deterministic.
 * It is already in wire form: CRLF only, final CRLF.
 */
export function bigMessage(targetSize = BIG_MESSAGE_SIZE): Buffer {
  let state = 0x2545f491;
  const random = (n: number): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % n;
  };
  const header = [
    "Return-Path: <sender@example.org>",
    "Received: from mx.example.org (mx.example.org [192.0.2.1])",
    "\tby pop.example.net with ESMTPS id 4XyzAbc; Tue, 4 Mar 2025 10:00:00 +0000",
    "From: Big Sender <sender@example.org>",
    "To: Alice <alice@example.net>",
    "Subject: a 30 MB message with dot lines",
    "Date: Tue, 4 Mar 2025 10:00:00 +0000",
    "Message-ID: <big-30mb.1@example.org>",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=us-ascii",
    "Content-Transfer-Encoding: 7bit",
    "",
  ];
  const tail = ["-- ", "end of the big message", "."];
  // Written straight into one buffer: building 400,000 strings word by word and joining them took
  // seconds on a loaded machine, in every interop file. Same bytes as that version.
  const out = Buffer.allocUnsafe(targetSize);
  let size = 0;
  const put = (text: string): void => {
    size += out.write(text, size, "latin1");
  };
  for (const line of header) put(`${line}\r\n`);
  const reserve = tail.reduce((sum, line) => sum + line.length + 2, 0);
  // A body line is at most 76 characters plus CRLF, so the 80 bytes kept free always fit it.
  for (let n = 1; size + reserve + 80 < targetSize; n++) {
    if (n % 997 === 0) put(".");
    else if (n % 1499 === 0) put("..");
    else if (n % 53 !== 0) {
      const start = size;
      if (n % 37 === 0) put(".");
      else if (n % 101 === 0) put("..");
      const firstWord = size;
      const width = 60 + random(17);
      while (size - start < width) {
        const word = WORDS[random(WORDS.length)] as string;
        if (size - start + word.length + 1 > 76) break;
        put(size === firstWord ? word : ` ${word}`);
      }
    }
    put("\r\n");
  }
  for (const line of tail) put(`${line}\r\n`);
  return Buffer.from(out.subarray(0, size));
}

export interface InteropMessage {
  readonly name: string;
  /** What the store holds. */
  readonly stored: Uint8Array;
  /** What a conforming client must get: `wireForm(stored)`. */
  readonly expected: Buffer;
}

let bigCache: Buffer | undefined;

/** EDGE_MESSAGES in their order, then the 30 MB message. Message n is index n-1. */
export function interopMessages(): InteropMessage[] {
  bigCache ??= bigMessage();
  const edge = Object.entries(EDGE_MESSAGES).map(([name, stored]) => ({
    name,
    stored,
    expected: wireForm(stored),
  }));
  // The big message is built in wire form; wireForm would only copy it (messages.test.ts checks).
  return [...edge, { name: "big30MB", stored: bigCache, expected: bigCache }];
}

/** Seeds `user`'s maildrop with the interop message set; returns the set. */
export function seed(store: MemoryStore, user = "alice"): InteropMessage[] {
  const messages = interopMessages();
  for (const message of messages) store.addMessage(user, message.stored);
  return messages;
}

/** The answer to `TOP msg n` for `expected` (a message in wire form): header, blank line, n lines. */
export function topForm(expected: Uint8Array, n: number): Buffer {
  const text = Buffer.from(expected).toString("latin1");
  if (text === "") return Buffer.alloc(0);
  const lines = text.slice(0, -2).split("\r\n");
  const blank = lines.indexOf("");
  if (blank === -1) return Buffer.from(expected);
  const kept = lines.slice(0, Math.min(lines.length, blank + 1 + n));
  return Buffer.from(`${kept.join("\r\n")}\r\n`, "latin1");
}

/** CRLF → LF, for clients that store mail with Unix line ends. Only valid on wire-form bytes. */
export function crlfToLf(wire: Uint8Array): Buffer {
  return Buffer.from(Buffer.from(wire).toString("latin1").replaceAll("\r\n", "\n"), "latin1");
}

function show(bytes: Uint8Array, from: number, to: number): string {
  return JSON.stringify(Buffer.from(bytes.subarray(from, to)).toString("latin1"));
}

/**
 * `undefined` when the two byte strings are identical, otherwise a short description of the
 * first difference (sizes, offset, the bytes around it): usable on 30 MB without a giant diff.
 */
export function byteDifference(actual: Uint8Array, expected: Uint8Array): string | undefined {
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength);
  const e = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
  if (a.equals(e)) return undefined;
  let i = 0;
  const limit = Math.min(a.length, e.length);
  while (i < limit && a[i] === e[i]) i++;
  const from = Math.max(0, i - 40);
  return (
    `got ${a.length} bytes, expected ${e.length}; first difference at offset ${i}: ` +
    `got ${show(a, from, i + 40)} expected ${show(e, from, i + 40)}`
  );
}
