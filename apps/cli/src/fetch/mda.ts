import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { once } from "node:events";
import { constants } from "node:os";

/**
 * Delivery to a mail delivery agent (procmail, maildrop, dovecot-lda, a script): each message is
 * piped to `/bin/sh -c COMMAND`, with LF line ends (what local MDAs expect; only CRLF pairs
 * change, every other byte is passed as it came). The message counts as delivered only when the
 * MDA read all of it and exited 0.
 *
 * The MDA runs in its own process group, so that a Ctrl-C at the terminal reaches fetch only
 * (which lets the current delivery finish) and a hung MDA can be killed with all its children.
 * It is killed with SIGKILL before its input is closed whenever the delivery is given up, so it
 * never sees a cut-off message end as a normal end of input.
 */

/** Why an MDA delivery failed: not delivered; the message stays on the server. */
export class MdaError extends Error {
  readonly code: "MDA_FAILED" | "MDA_SIGNAL" | "MDA_TIMEOUT" | "MDA_INPUT" | "MDA_START";

  constructor(code: MdaError["code"], message: string) {
    super(message);
    this.name = "MdaError";
    this.code = code;
  }
}

/** Environment variables the MDA gets from ours; nothing else (no POP3_PASSWORD, no POP3_URL). */
const PASSED_ON = new Set([
  "PATH",
  "HOME",
  "USER",
  "LOGNAME",
  "SHELL",
  "LANG",
  "LANGUAGE",
  "TZ",
  "TMPDIR",
  "MAIL",
  "MAILDIR",
]);

/** The MDA's environment: the harmless variables of ours, and what it may want to know. */
export function mdaEnvironment(
  ours: NodeJS.ProcessEnv,
  message: { account: string; uid: string; size: number },
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(ours)) {
    if (value !== undefined && (PASSED_ON.has(name) || name.startsWith("LC_"))) env[name] = value;
  }
  env["POP3_FETCH_ACCOUNT"] = message.account;
  env["POP3_FETCH_UIDL"] = message.uid;
  env["POP3_FETCH_SIZE"] = String(message.size);
  return env;
}

/** The end of what the MDA printed, for the error message. */
const OUTPUT_TAIL = 1024;

export interface MdaRun {
  readonly command: string;
  readonly env: NodeJS.ProcessEnv;
  /** How long the MDA may keep fetch waiting: to take the next bytes, or to exit. */
  readonly timeoutMs: number;
  readonly onBytes: (received: number) => void;
  /** Aborted when the run is cut: the MDA is killed at once. */
  readonly cut: AbortSignal;
}

/** Pipes one message to the MDA; resolves with the octets received from the server. */
export async function pipeToMda(chunks: AsyncIterable<Uint8Array>, run: MdaRun): Promise<number> {
  const child = spawn("/bin/sh", ["-c", run.command], {
    stdio: ["pipe", "pipe", "pipe"],
    env: run.env,
    detached: true,
  });
  let output = "";
  const keep = (data: Buffer): void => {
    output = (output + data.toString("utf8")).slice(-OUTPUT_TAIL);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  let inputError: NodeJS.ErrnoException | undefined;
  child.stdin.on("error", (error: NodeJS.ErrnoException) => {
    inputError ??= error;
  });
  let startError: Error | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("error", (error) => {
      startError = error;
      resolve({ code: null, signal: null });
    });
    child.once("close", (code, signal) => resolve({ code, signal }));
  });
  const kill = (): void => killGroup(child);
  run.cut.addEventListener("abort", kill);
  try {
    const lf = new CrlfToLf();
    let received = 0;
    try {
      for await (const chunk of chunks) {
        received += chunk.length;
        run.onBytes(received);
        await feed(child, lf.push(chunk), exited, run.timeoutMs, () => inputError);
      }
      await feed(child, lf.end(), exited, run.timeoutMs, () => inputError);
    } catch (error) {
      // The download failed, or the MDA stopped reading: make sure it delivers nothing.
      kill();
      await exited;
      if (error instanceof MdaError) throw mdaFailure(error, await exited, output, startError);
      throw error;
    }
    child.stdin.end();
    const status = await waitOrKill(child, exited, run.timeoutMs);
    if (startError !== undefined) {
      throw new MdaError("MDA_START", `the MDA could not be started: ${startError.message}`);
    }
    if (status === "timeout") {
      throw new MdaError(
        "MDA_TIMEOUT",
        `the MDA did not exit within ${run.timeoutMs / 1000} s after the message; killed${said(output)}`,
      );
    }
    if (status.signal !== null) {
      throw new MdaError("MDA_SIGNAL", `the MDA was killed by ${status.signal}${said(output)}`);
    }
    if (status.code !== 0) {
      throw new MdaError(
        "MDA_FAILED",
        `the MDA exited with status ${status.code}${signalled(status.code)}${said(output)}`,
      );
    }
    if (inputError !== undefined) {
      throw new MdaError(
        "MDA_INPUT",
        `the MDA stopped reading before the end of the message (${inputError.code ?? inputError.message}); not counted as delivered${said(output)}`,
      );
    }
    return received;
  } finally {
    run.cut.removeEventListener("abort", kill);
  }
}

/** Writes to the MDA with backpressure; an MDA that takes nothing for `timeoutMs` fails. */
async function feed(
  child: ChildProcessWithoutNullStreams,
  pieces: readonly Uint8Array[],
  exited: Promise<unknown>,
  timeoutMs: number,
  inputError: () => Error | undefined,
): Promise<void> {
  for (const piece of pieces) {
    if (inputError() !== undefined) throw new MdaError("MDA_INPUT", "input closed");
    if (piece.length === 0 || child.stdin.write(piece)) continue;
    // once() rejects on the stream's 'error' (EPIPE: the MDA closed its input).
    const drained = once(child.stdin, "drain").then(
      () => "drained" as const,
      () => "exited" as const,
    );
    const outcome = await within(
      Promise.race([drained, exited.then(() => "exited" as const)]),
      timeoutMs,
    );
    if (outcome === "timeout") {
      throw new MdaError("MDA_TIMEOUT", `the MDA took no input for ${timeoutMs / 1000} s; killed`);
    }
    if (outcome === "exited") throw new MdaError("MDA_INPUT", "exited before reading all");
  }
}

/** The error to report for a delivery given up while writing: says how the MDA ended. */
function mdaFailure(
  error: MdaError,
  status: { code: number | null; signal: NodeJS.Signals | null },
  output: string,
  startError: Error | undefined,
): MdaError {
  if (startError !== undefined) {
    return new MdaError("MDA_START", `the MDA could not be started: ${startError.message}`);
  }
  if (error.code === "MDA_TIMEOUT")
    return new MdaError("MDA_TIMEOUT", `${error.message}${said(output)}`);
  const early = "before reading the whole message; not counted as delivered";
  if (status.signal !== null && status.signal !== "SIGKILL") {
    return new MdaError(
      "MDA_SIGNAL",
      `the MDA was killed by ${status.signal} ${early}${said(output)}`,
    );
  }
  if (status.code !== null && status.code !== 0) {
    return new MdaError(
      "MDA_FAILED",
      `the MDA exited with status ${status.code}${signalled(status.code)} ${early}${said(output)}`,
    );
  }
  const how = status.code === 0 ? "exited with status 0" : "stopped reading";
  return new MdaError("MDA_INPUT", `the MDA ${how} ${early}${said(output)}`);
}

async function waitOrKill(
  child: ChildProcessWithoutNullStreams,
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
  timeoutMs: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null } | "timeout"> {
  const outcome = await within(exited, timeoutMs);
  if (outcome !== "timeout") return outcome;
  killGroup(child);
  await exited;
  return "timeout";
}

function killGroup(child: ChildProcessWithoutNullStreams): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    child.kill("SIGKILL");
  }
}

/** A shell reports a command killed by signal n as status 128 + n. */
function signalled(code: number | null): string {
  if (code === null || code <= 128 || code > 128 + 64) return "";
  const name = Object.entries(constants.signals).find(([, n]) => n === code - 128)?.[0];
  return name === undefined ? "" : ` (a command it ran was killed by ${name})`;
}

function said(output: string): string {
  const text = output.trim().replace(/\s+/g, " ");
  return text === "" ? "" : `: ${text.length > 300 ? `…${text.slice(-300)}` : text}`;
}

async function within<T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(resolve, ms, "timeout");
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const CR = 0x0d;
const LF = 0x0a;

/** CRLF → LF, streaming (a CR at the end of a chunk waits for the next one). */
export class CrlfToLf {
  #heldCr = false;

  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let start = 0;
    if (this.#heldCr) {
      this.#heldCr = false;
      if (chunk[0] !== LF) out.push(CR_BYTE);
    }
    for (let i = chunk.indexOf(CR); i !== -1; i = chunk.indexOf(CR, i + 1)) {
      if (i === chunk.length - 1) {
        out.push(chunk.subarray(start, i));
        this.#heldCr = true;
        return out;
      }
      if (chunk[i + 1] === LF) {
        out.push(chunk.subarray(start, i));
        start = i + 1;
      }
    }
    out.push(chunk.subarray(start));
    return out;
  }

  end(): Uint8Array[] {
    const out = this.#heldCr ? [CR_BYTE] : [];
    this.#heldCr = false;
    return out;
  }
}

const CR_BYTE = Uint8Array.of(CR);
