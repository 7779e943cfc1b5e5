import { type FileHandle, open } from "node:fs/promises";
import { readIfExists, writeFileDurably } from "./fsutil";

/** Where a fetch delivers: the state of one kind is refused for another. */
export type DestinationKind = "maildir" | "mbox" | "mda";

/**
 * Which messages a destination already holds, per account (`user@host`), by UIDL.
 *
 * The file is an append-only journal of JSON lines: a header, then one line per stored message,
 * each appended and fsync'd right after the message itself was made durable. A crash can at worst
 * leave a partial last line, which is ignored. Each run starts by rewriting the journal compactly
 * (write aside, fsync, rename), so appends always begin on a fresh line and the file stays small;
 * recording a message costs one small append, not a rewrite of the whole state.
 *
 * Maildir deliveries also journal an intent (the file name a message is about to get) before
 * the file appears in `new/`: a crash between that and the record leaves an intent that the next
 * run settles by looking for the file (`settleIntents`).
 */
export interface StoredMessage {
  readonly account: string;
  readonly uid: string;
  readonly size: number;
  /** When this destination first recorded the message (ISO 8601): `--delete-after` counts from it. */
  readonly at: string;
  /** mbox: the file's committed length after this message. */
  readonly end?: number;
  /** Maildir: the file name the message got in new/ (`time.M…,S=size`). */
  readonly file?: string;
}

/** A Maildir delivery that was about to link `file` into new/. */
export interface Intent {
  readonly intent: "maildir";
  readonly account: string;
  readonly uid: string;
  readonly file: string;
}

interface Header {
  readonly format: "pop3-fetch-state";
  readonly version: 1;
  readonly destination: DestinationKind;
  readonly mboxLength?: number;
}

export class FetchState {
  readonly path: string;
  readonly destination: DestinationKind;
  /** The file existed (false on a first run, or after it was deleted). */
  readonly existed: boolean;
  #accounts = new Map<string, Map<string, StoredMessage>>();
  #mboxLength: number | undefined;
  #journal: FileHandle | undefined;
  /** Intents not followed by their record, by file name. */
  #intents = new Map<string, Intent>();
  /** Lines that could not be read (not counting a partial last line). */
  readonly damagedLines: number;

  private constructor(
    path: string,
    destination: DestinationKind,
    existed: boolean,
    damagedLines: number,
  ) {
    this.path = path;
    this.destination = destination;
    this.existed = existed;
    this.damagedLines = damagedLines;
  }

  static async load(path: string, destination: DestinationKind): Promise<FetchState> {
    const text = await readIfExists(path);
    if (text === undefined) return new FetchState(path, destination, false, 0);
    const lines = text.split("\n");
    // Everything after the last newline is a partial line from a crash mid-append: ignore it.
    lines.pop();
    let damaged = 0;
    const records: (StoredMessage | Intent)[] = [];
    let header: Header | undefined;
    for (const line of lines) {
      if (line.trim() === "") continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        damaged += 1;
        continue;
      }
      if (isHeader(value)) header = value;
      else if (isRecord(value) || isIntent(value)) records.push(value);
      else damaged += 1;
    }
    if (header !== undefined && header.destination !== destination) {
      throw new Error(
        `${path} records a fetch into ${describe(header.destination)}, not into ${describe(destination)}`,
      );
    }
    const state = new FetchState(path, destination, true, damaged);
    state.#mboxLength = header?.mboxLength;
    for (const line of records) {
      if (isIntent(line)) state.#intents.set(line.file, line);
      else {
        if (line.file !== undefined) state.#intents.delete(line.file);
        state.#remember(line);
      }
    }
    return state;
  }

  has(account: string, uid: string): boolean {
    return this.#accounts.get(account)?.has(uid) ?? false;
  }

  get(account: string, uid: string): StoredMessage | undefined {
    return this.#accounts.get(account)?.get(uid);
  }

  /** Every account's UIDs known. */
  count(account: string): number {
    return this.#accounts.get(account)?.size ?? 0;
  }

  /** mbox: the length of the file when the last message was committed. */
  get mboxLength(): number | undefined {
    return this.#mboxLength;
  }

  /**
   * Maildir deliveries that journaled their intent but not their record (a crash in between):
   * those whose file `exists` become records (the message is there), the others are dropped
   * (the message never arrived in new/ and will be fetched again). `begin` persists the result.
   */
  settleIntents(exists: (file: string) => boolean, sizeOf: (file: string) => number): number {
    let adopted = 0;
    for (const intent of this.#intents.values()) {
      if (!exists(intent.file)) continue;
      this.#remember({
        account: intent.account,
        uid: intent.uid,
        size: sizeOf(intent.file),
        at: new Date().toISOString(),
        file: intent.file,
      });
      adopted += 1;
    }
    this.#intents.clear();
    return adopted;
  }

  /** Adds records found elsewhere (mbox markers) without journaling them; `begin` persists them. */
  adopt(record: StoredMessage): void {
    this.#remember(record);
  }

  /** Rewrites the journal compactly (with the given committed mbox length) and opens it for appends. */
  async begin(mboxLength?: number): Promise<void> {
    if (mboxLength !== undefined) this.#mboxLength = mboxLength;
    const header: Header = {
      format: "pop3-fetch-state",
      version: 1,
      destination: this.destination,
      ...(this.#mboxLength === undefined ? {} : { mboxLength: this.#mboxLength }),
    };
    const lines = [JSON.stringify(header)];
    for (const messages of this.#accounts.values()) {
      for (const record of messages.values()) lines.push(JSON.stringify(record));
    }
    await writeFileDurably(this.path, `${lines.join("\n")}\n`);
    this.#journal = await open(this.path, "a");
  }

  /** Journals durably that a Maildir file is about to be linked into new/ for this message. */
  async intend(intent: Omit<Intent, "intent">): Promise<void> {
    if (this.#journal === undefined) throw new Error("FetchState.begin() was not called");
    await this.#journal.write(`${JSON.stringify({ intent: "maildir", ...intent })}\n`);
    await this.#journal.datasync();
  }

  /** Journals a stored message durably (append + fdatasync). Call only once it is itself durable. */
  async record(record: StoredMessage): Promise<void> {
    if (this.#journal === undefined) throw new Error("FetchState.begin() was not called");
    await this.#journal.write(`${JSON.stringify(record)}\n`);
    await this.#journal.datasync();
    this.#remember(record);
  }

  async close(): Promise<void> {
    await this.#journal?.close();
    this.#journal = undefined;
  }

  #remember(record: StoredMessage): void {
    let messages = this.#accounts.get(record.account);
    if (messages === undefined) {
      messages = new Map();
      this.#accounts.set(record.account, messages);
    }
    // Stored again (--all): the first date stays, --delete-after counts from it.
    const earlier = messages.get(record.uid)?.at;
    messages.set(
      record.uid,
      earlier !== undefined && earlier < record.at ? { ...record, at: earlier } : record,
    );
    if (record.end !== undefined) this.#mboxLength = record.end;
  }
}

function describe(kind: DestinationKind): string {
  return kind === "mda" ? "an MDA" : `an ${kind}`;
}

function isHeader(value: unknown): value is Header {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as { format?: unknown }).format === "pop3-fetch-state"
  );
}

function isIntent(value: unknown): value is Intent {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    v["intent"] === "maildir" &&
    typeof v["account"] === "string" &&
    typeof v["uid"] === "string" &&
    typeof v["file"] === "string"
  );
}

function isRecord(value: unknown): value is StoredMessage {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v["account"] === "string" &&
    typeof v["uid"] === "string" &&
    typeof v["size"] === "number" &&
    typeof v["at"] === "string" &&
    (v["end"] === undefined || typeof v["end"] === "number") &&
    (v["file"] === undefined || typeof v["file"] === "string")
  );
}
