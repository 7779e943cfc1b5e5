import { describeMatch, matchLine } from "./match";
import { parseTranscript } from "./parse";
import { type ReadResult, SessionReader } from "./reader";
import { concat, showBytes } from "./text";
import type { TranscriptConnection, TranscriptTransport } from "./transport";
import type { SendStep, Transcript, TranscriptStep } from "./types";

export interface RunOptions {
  /** How long each expectation (and connect, STLS handshake) may wait. Default 5000 ms. */
  readonly timeoutMs?: number;
}

export type StepStatus = "passed" | "failed" | "skipped";

/** What happened to one step, in transcript order. */
export interface StepResult {
  readonly line: number;
  /** The session label (`""` unlabelled); `undefined` for `wait`. */
  readonly session: string | undefined;
  readonly kind: TranscriptStep["kind"];
  /** The transcript line. */
  readonly source: string;
  /** `skipped`: not run, because an earlier step failed. */
  readonly status: StepStatus;
  /** What the server sent for an expectation, in display form. */
  readonly actual?: string;
}

export interface TranscriptFailure {
  readonly line: number;
  readonly session: string | undefined;
  /** The transcript line. */
  readonly source: string;
  /** What the transcript expected, in words. */
  readonly expected: string;
  /** What happened instead (the received line in quoted form, a close, a timeout...). */
  readonly actual: string;
  /** The whole failure, readable: where, the transcript line, expected and actual. */
  readonly message: string;
}

export interface TranscriptResult {
  readonly ok: boolean;
  readonly transport: string;
  readonly steps: readonly StepResult[];
  /** Empty when `ok`. The run stops at the first failure, so there is at most one today. */
  readonly failures: readonly TranscriptFailure[];
  /** One line when `ok`, else the failure messages. */
  readonly report: string;
}

type Outcome =
  | { readonly ok: true; readonly actual?: string }
  | { readonly ok: false; readonly expected: string; readonly actual: string };

interface LiveSession {
  readonly reader: SessionReader;
  connection: TranscriptConnection | undefined;
}

const DEFAULT_TIMEOUT_MS = 5000;

/**
 * Plays a transcript against a transport: sends the client's bytes, reads and frames the server's
 * answers with pop3-core, compares them with the expectations, and stops at the first mismatch.
 * A string is parsed first (`TranscriptSyntaxError` if it is not a valid transcript). Every
 * connection is torn down before this resolves.
 */
export async function runTranscript(
  input: string | Transcript,
  transport: TranscriptTransport,
  options: RunOptions = {},
): Promise<TranscriptResult> {
  const transcript = typeof input === "string" ? parseTranscript(input) : input;
  await transport.prepare?.(transcript);
  return new Runner(transcript, transport, options.timeoutMs ?? DEFAULT_TIMEOUT_MS).run();
}

/** A failure as text: the same as `failure.message`. */
export function formatFailure(
  failure: Omit<TranscriptFailure, "message">,
  where: { readonly name?: string | undefined; readonly transport?: string | undefined } = {},
): string {
  const context = [
    failure.session === undefined || failure.session === ""
      ? undefined
      : `session ${failure.session}`,
    where.transport,
  ].filter((part) => part !== undefined);
  return [
    `${where.name ?? "transcript"}:${failure.line}${context.length > 0 ? ` (${context.join(", ")})` : ""}`,
    `  ${failure.line} | ${failure.source.trim()}`,
    `  expected: ${failure.expected}`,
    `  actual:   ${failure.actual}`,
  ].join("\n");
}

class Runner {
  readonly #transcript: Transcript;
  readonly #transport: TranscriptTransport;
  readonly #timeoutMs: number;
  readonly #sessions = new Map<string, LiveSession>();
  /** Every connection opened, also those replaced by a later `connect`, for the teardown. */
  readonly #opened: LiveSession[] = [];
  readonly #statuses: StepStatus[];
  readonly #actuals: (string | undefined)[];
  /** Sends not written yet: consecutive `C:`/`C>` lines of one session go out in one write. */
  #pending: { session: string; indexes: number[] } | undefined;

  constructor(transcript: Transcript, transport: TranscriptTransport, timeoutMs: number) {
    this.#transcript = transcript;
    this.#transport = transport;
    this.#timeoutMs = timeoutMs;
    this.#statuses = transcript.steps.map(() => "skipped");
    this.#actuals = transcript.steps.map(() => undefined);
  }

  async run(): Promise<TranscriptResult> {
    let failure: Omit<TranscriptFailure, "message"> | undefined;
    try {
      const steps = this.#transcript.steps;
      for (let index = 0; index < steps.length && failure === undefined; index++) {
        const step = steps[index] as TranscriptStep;
        if (step.kind !== "send" || this.#pending?.session !== step.session) {
          failure = this.#flush();
          if (failure !== undefined) break;
        }
        if (step.kind === "send") {
          this.#pending ??= { session: step.session, indexes: [] };
          this.#pending.indexes.push(index);
          continue;
        }
        const outcome = await this.#execute(step).catch(
          (error: unknown): Outcome => ({
            ok: false,
            expected: expectedOf(step),
            actual: `an error: ${errorText(error)}`,
          }),
        );
        this.#statuses[index] = outcome.ok ? "passed" : "failed";
        this.#actuals[index] = outcome.actual;
        if (!outcome.ok) failure = failureOf(step, outcome.expected, outcome.actual);
      }
      failure ??= this.#flush();
    } finally {
      for (const session of this.#opened) {
        session.reader.stop();
        session.connection?.destroy();
      }
    }
    return this.#result(failure);
  }

  #result(failure: Omit<TranscriptFailure, "message"> | undefined): TranscriptResult {
    const name = this.#transcript.name;
    const transport = this.#transport.name;
    const steps = this.#transcript.steps.map((step, i): StepResult => {
      const actual = this.#actuals[i];
      return {
        line: step.line,
        session: step.kind === "wait" ? undefined : step.session,
        kind: step.kind,
        source: step.source,
        status: this.#statuses[i] as StepStatus,
        ...(actual === undefined ? {} : { actual }),
      };
    });
    const failures =
      failure === undefined
        ? []
        : [{ ...failure, message: formatFailure(failure, { name, transport }) }];
    const report =
      failures.length === 0
        ? `${name ?? "transcript"}: ${steps.length} steps passed (${transport})`
        : failures.map((f) => f.message).join("\n");
    return { ok: failures.length === 0, transport, steps, failures, report };
  }

  /** Writes the pending sends; a failure is reported at the first line of the write. */
  #flush(): Omit<TranscriptFailure, "message"> | undefined {
    const pending = this.#pending;
    if (pending === undefined) return undefined;
    this.#pending = undefined;
    const steps = pending.indexes.map((i) => this.#transcript.steps[i] as SendStep);
    const first = steps[0] as SendStep;
    const connection = this.#sessions.get(pending.session)?.connection;
    try {
      if (connection === undefined) throw new Error("not connected");
      connection.write(concat(steps.map((s) => s.bytes)));
    } catch (error) {
      const index = pending.indexes[0] as number;
      this.#statuses[index] = "failed";
      return failureOf(first, "to send these bytes", `an error: ${errorText(error)}`);
    }
    for (const i of pending.indexes) this.#statuses[i] = "passed";
    return undefined;
  }

  async #execute(step: Exclude<TranscriptStep, SendStep>): Promise<Outcome> {
    const timeoutMs = this.#timeoutMs;
    switch (step.kind) {
      case "wait":
        await new Promise((resolve) => setTimeout(resolve, step.ms));
        return { ok: true };
      case "connect": {
        const reader = new SessionReader();
        const session: LiveSession = { reader, connection: undefined };
        this.#sessions.set(step.session, session);
        this.#opened.push(session);
        try {
          session.connection = await withTimeout(
            this.#transport.connect(step.session, reader.sink),
            timeoutMs,
            (connection) => connection.destroy(),
          );
        } catch (error) {
          return {
            ok: false,
            expected: "a connection",
            actual: `no connection: ${errorText(error)}`,
          };
        }
        return { ok: true };
      }
      case "close": {
        const session = this.#live(step.session);
        session.reader.stop();
        session.connection?.close();
        return { ok: true };
      }
      case "expect-close": {
        const session = this.#live(step.session);
        const read = await session.reader.awaitClose(timeoutMs);
        if (read.type === "closed") {
          session.connection?.destroy();
          return {
            ok: true,
            actual: read.error === undefined ? "closed" : `closed (${read.error.message})`,
          };
        }
        return {
          ok: false,
          expected: expectedOf(step),
          actual:
            read.type === "line"
              ? `${showBytes(read.bytes)} and the connection still open`
              : `the connection still open after ${timeoutMs} ms`,
        };
      }
      case "starttls": {
        const session = this.#live(step.session);
        const unread = session.reader.takeUnread();
        if (unread.length > 0) {
          return {
            ok: false,
            expected: expectedOf(step),
            actual: `${showBytes(unread)} from the server before the handshake`,
          };
        }
        try {
          await withTimeout((session.connection as TranscriptConnection).startTls(), timeoutMs);
        } catch (error) {
          return { ok: false, expected: expectedOf(step), actual: `no TLS: ${errorText(error)}` };
        }
        return { ok: true };
      }
      case "expect-line": {
        const session = this.#live(step.session);
        const read = await session.reader.readLine(timeoutMs);
        if (read.type === "line" && matchLine(step.match, read.bytes)) {
          if (step.opensBody) session.reader.startBody();
          return { ok: true, actual: showBytes(read.bytes) };
        }
        return { ok: false, expected: expectedOf(step), actual: describeRead(read, timeoutMs) };
      }
      case "expect-body-line": {
        const session = this.#live(step.session);
        const read = await session.reader.readBodyLine(timeoutMs);
        if (read.type === "line" && matchLine(step.match, read.bytes)) {
          return { ok: true, actual: showBytes(read.bytes) };
        }
        return { ok: false, expected: expectedOf(step), actual: describeRead(read, timeoutMs) };
      }
      case "expect-body-end": {
        const session = this.#live(step.session);
        let read = await session.reader.readBodyLine(timeoutMs);
        let skipped = 0;
        while (step.skipRest && read.type === "line") {
          skipped += 1;
          read = await session.reader.readBodyLine(timeoutMs);
        }
        if (read.type === "end") {
          session.reader.endBody();
          return { ok: true, actual: skipped > 0 ? `${skipped} more lines, then "."` : '"."' };
        }
        return {
          ok: false,
          expected: expectedOf(step),
          actual:
            read.type === "line"
              ? `another line: ${showBytes(read.bytes)}`
              : describeRead(read, timeoutMs),
        };
      }
    }
  }

  #live(label: string): LiveSession {
    const session = this.#sessions.get(label);
    if (session?.connection === undefined) throw new Error(`session ${label} is not connected`);
    return session;
  }
}

function expectedOf(step: TranscriptStep): string {
  switch (step.kind) {
    case "send":
      return "to send these bytes";
    case "wait":
      return `a pause of ${step.ms} ms`;
    case "connect":
      return "a connection";
    case "close":
      return "to close the connection";
    case "expect-close":
      return "the server to close the connection, sending nothing more";
    case "starttls":
      return "a TLS handshake, with nothing from the server before it";
    case "expect-line":
      return describeMatch(step.match);
    case "expect-body-line":
      return `body line ${describeMatch(step.match)}`;
    case "expect-body-end":
      return step.skipRest
        ? 'the rest of the multi-line answer, then its end "."'
        : 'the end of the multi-line answer "."';
  }
}

function describeRead(read: ReadResult, timeoutMs: number): string {
  switch (read.type) {
    case "line":
      return showBytes(read.bytes);
    case "end":
      return 'the end of the multi-line answer "."';
    case "too-long":
      return `a line longer than ${read.limit} octets`;
    case "closed": {
      const why = read.error === undefined ? "" : ` (${read.error.message})`;
      const partial =
        read.partial.length > 0 ? ` after ${showBytes(read.partial)} without a line end` : "";
      return `the server closed the connection${why}${partial}`;
    }
    case "timeout":
      return read.partial.length > 0
        ? `${showBytes(read.partial)} without a line end, nothing more within ${timeoutMs} ms`
        : `nothing within ${timeoutMs} ms`;
  }
}

function failureOf(
  step: TranscriptStep,
  expected: string,
  actual: string,
): Omit<TranscriptFailure, "message"> {
  return {
    line: step.line,
    session: step.kind === "wait" ? undefined : step.session,
    source: step.source,
    expected,
    actual,
  };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `promise`, or a rejection after `ms`; a value that arrives too late goes to `discard`. */
function withTimeout<T>(promise: Promise<T>, ms: number, discard?: (value: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      reject(new Error(`timed out after ${ms} ms`));
    }, ms);
    promise.then(
      (value) => {
        if (settled) discard?.(value);
        else {
          settled = true;
          clearTimeout(timer);
          resolve(value);
        }
      },
      (error: unknown) => {
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          reject(error);
        }
      },
    );
  });
}
