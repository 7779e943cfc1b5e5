import { type FileHandle, open } from "node:fs/promises";
import { readIfExists, writeFileDurably } from "./fsutil";

/**
 * Which messages a destination already holds, per account (`user@host`), by UIDL.
 *
 * The file is an append-only journal of JSON lines: a header, then one line per stored message,
 * each appended and fsync'd right after the message itself was made durable. A crash can at worst
 * leave a partial last line, which is ignored. Each run starts by rewriting the journal compactly
 * (write aside, fsync, rename), so appends always begin on a fresh line and the file stays small;
 * recording a message costs one small append, not a rewrite of the whole state.
 */
export interface StoredMessage {
  readonly account: string;
  readonly uid: string;
  readonly size: number;
  readonly at: string;
  /** mbox: the file's committed length after this message. */
  readonly end?: number;
}

interface Header {
  readonly format: "pop3-fetch-state";
  readonly version: 1;
  readonly destination: "maildir" | "mbox";
  readonly mboxLength?: number;
}

export class FetchState {
  readonly path: string;
  readonly destination: "maildir" | "mbox";
  /** The file existed (false on a first run, or after it was deleted). */
  readonly existed: boolean;
  #accounts = new Map<string, Map<string, StoredMessage>>();
  #mboxLength: number | undefined;
  #journal: FileHandle | undefined;
  /** Lines that could not be read (not counting a partial last line). */
  readonly damagedLines: number;

  private constructor(
    path: string,
    destination: "maildir" | "mbox",
    existed: boolean,
    damagedLines: number,
  ) {
    this.path = path;
    this.destination = destination;
    this.existed = existed;
    this.damagedLines = damagedLines;
  }

  static async load(path: string, destination: "maildir" | "mbox"): Promise<FetchState> {
    const text = await readIfExists(path);
    if (text === undefined) return new FetchState(path, destination, false, 0);
    const lines = text.split("\n");
    // Everything after the last newline is a partial line from a crash mid-append: ignore it.
    lines.pop();
    let damaged = 0;
    const records: StoredMessage[] = [];
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
      else if (isRecord(value)) records.push(value);
      else damaged += 1;
    }
    if (header !== undefined && header.destination !== destination) {
      throw new Error(
        `${path} is the state of an ${header.destination} destination, not of this ${destination}`,
      );
    }
    const state = new FetchState(path, destination, true, damaged);
    state.#mboxLength = header?.mboxLength;
    for (const record of records) state.#remember(record);
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
    messages.set(record.uid, record);
    if (record.end !== undefined) this.#mboxLength = record.end;
  }
}

function isHeader(value: unknown): value is Header {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as { format?: unknown }).format === "pop3-fetch-state"
  );
}

function isRecord(value: unknown): value is StoredMessage {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v["account"] === "string" &&
    typeof v["uid"] === "string" &&
    typeof v["size"] === "number" &&
    (v["end"] === undefined || typeof v["end"] === "number")
  );
}
