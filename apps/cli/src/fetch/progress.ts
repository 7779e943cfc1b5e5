import cliProgress from "cli-progress";
import { formatBytes, type Output } from "../output";

/**
 * What `fetch` tells as it goes: NDJSON events on stdout with --json, a progress bar (messages,
 * bytes, ETA) on stderr when that is a terminal, otherwise nothing until the summary. `verbose`
 * adds a line per message on stderr; `quiet` leaves only warnings and errors (no bar, no notes,
 * no summary line). The JSON events are the same at every verbosity.
 */
export type Verbosity = "quiet" | "normal" | "verbose";

export type FetchEvent =
  | {
      event: "start";
      account: string;
      destination: string;
      messages: number;
      octets: number;
      onServer: number;
      alreadyStored: number;
      skipped: number;
    }
  | { event: "progress"; msg: number; uid: string; received: number; size: number }
  | { event: "stored"; msg: number; uid: string; size: number; location: string }
  | { event: "skipped"; msg: number; uid: string; size: number; reason: "too-large" | "limit" }
  | { event: "failed"; msg: number; uid: string; error: string; code: string }
  | { event: "marked-deleted"; msg: number; uid: string }
  | { event: "warning"; msg: number; uid: string; code: string; message: string }
  | {
      event: "done";
      stored: number;
      octets: number;
      failed: number;
      skipped: number;
      deleted: number;
      committed: boolean | null;
      interrupted: boolean;
      /** The stop could not wait for the current message: the connection was cut (no QUIT). */
      forced: boolean;
      exitCode: number;
      /** Why the run stopped early (the connection broke, a local write failed), if it did. */
      error?: string;
      code?: string;
    };

/** JSON progress events come at most every this many octets within one message. */
const PROGRESS_STEP = 256 * 1024;

export class FetchReporter {
  readonly #output: Output;
  readonly #verbosity: Verbosity;
  #bar: cliProgress.SingleBar | undefined;
  #lastReported = 0;
  #doneBytes = 0;
  #doneMessages = 0;
  #totalMessages = 0;
  #totalBytes = 0;

  constructor(output: Output, verbosity: Verbosity = "normal") {
    this.#output = output;
    this.#verbosity = verbosity;
  }

  get quiet(): boolean {
    return this.#verbosity === "quiet";
  }

  /** A note on stderr (not with --json or --quiet). */
  note(message: string): void {
    if (this.#output.json || this.quiet) return;
    this.#log(message, "note");
  }

  /** A warning on stderr, at every verbosity (and with --json too: stderr is not the events). */
  warn(message: string): void {
    this.#log(message, "warn");
  }

  emit(event: FetchEvent): void {
    if (this.#output.json) this.#output.event(event);
    switch (event.event) {
      case "start":
        this.#totalMessages = event.messages;
        this.#totalBytes = event.octets;
        this.#verbose(
          `${event.account}: ${event.onServer} on the server, ${event.alreadyStored} stored before, ${event.skipped} skipped, fetching ${event.messages} (${formatBytes(event.octets)})`,
        );
        this.#startBar();
        break;
      case "stored":
        this.#doneMessages += 1;
        this.#doneBytes += event.size;
        this.#update(this.#doneBytes);
        this.#verbose(
          `message ${event.msg} (${event.uid}): stored, ${formatBytes(event.size)}, ${event.location}`,
        );
        break;
      case "failed":
        if (this.#output.json) break;
        // pop3-client's errors often start "message 4: …" already: say it once.
        this.#log(
          `message ${event.msg} (${event.uid}): ${withoutPrefix(event.error, event.msg)}`,
          "warn",
        );
        break;
      case "warning":
        // The client's own words ("message 4: LIST said …"), on stderr even with --json.
        this.#log(event.message, "warn");
        break;
      case "skipped":
        this.#verbose(
          `message ${event.msg} (${event.uid}): skipped, ${event.reason === "too-large" ? `${formatBytes(event.size)} is over --max-size` : "over --limit"}`,
        );
        break;
      case "marked-deleted":
        this.#verbose(`message ${event.msg} (${event.uid}): marked for deletion`);
        break;
      case "done":
        this.#bar?.stop();
        this.#bar = undefined;
        break;
      default:
        break;
    }
  }

  /** Bytes of the message being downloaded (throttled for JSON). */
  bytes(msg: number, uid: string, received: number, size: number): void {
    this.#update(this.#doneBytes + received);
    if (!this.#output.json) return;
    if (received - this.#lastReported >= PROGRESS_STEP || (received === size && received > 0)) {
      this.#lastReported = received;
      this.#output.event({ event: "progress", msg, uid, received, size });
    }
  }

  /** A new message starts downloading. */
  nextMessage(): void {
    this.#lastReported = 0;
  }

  stop(): void {
    this.#bar?.stop();
    this.#bar = undefined;
  }

  #verbose(message: string): void {
    if (this.#verbosity === "verbose" && !this.#output.json) this.#log(message, "note");
  }

  #log(message: string, kind: "note" | "warn"): void {
    if (this.#bar !== undefined) {
      // Keep the bar on its own line.
      this.#output.stderr.write("\r\u001b[K");
    }
    if (kind === "warn") this.#output.warn(message);
    else this.#output.note(message);
  }

  #startBar(): void {
    const stderr = this.#output.stderr;
    if (this.#output.json || this.#verbosity !== "normal") return;
    if (stderr.isTTY !== true || this.#totalMessages === 0) return;
    const bar = new cliProgress.SingleBar(
      {
        stream: stderr,
        format:
          "fetch [{bar}] {percentage}% | {messages}/{totalMessages} messages | {done}/{size} | ETA {eta_formatted}",
        barsize: 24,
        hideCursor: true,
        etaBuffer: 50,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(Math.max(this.#totalBytes, 1), 0, this.#payload());
    this.#bar = bar;
  }

  #update(bytes: number): void {
    this.#bar?.update(bytes, this.#payload(bytes));
  }

  #payload(bytes = this.#doneBytes): Record<string, string | number> {
    return {
      messages: this.#doneMessages,
      totalMessages: this.#totalMessages,
      done: formatBytes(bytes),
      size: formatBytes(this.#totalBytes),
    };
  }
}

function withoutPrefix(text: string, msg: number): string {
  return text.replace(new RegExp(`^message ${msg}: `), "");
}
