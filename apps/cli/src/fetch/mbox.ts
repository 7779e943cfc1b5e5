import { createReadStream } from "node:fs";
import { type FileHandle, open, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { failpoint } from "./failpoint";
import { fsyncDir } from "./fsutil";

/**
 * An mbox in the mboxrd flavour: each message starts with a `From sender date` line, line ends
 * are LF, every line matching `>*From ` gets one more `>`, and a blank line follows each message.
 * Right after the From_ line we add `X-POP3-UIDL: <uid> (<account>)`, so the file itself records
 * which messages it holds.
 *
 * Appends are made durable with fsync before the caller journals them in the state, together with
 * the file's new length. On open, the file is cut back to the last committed length when the
 * bytes beyond it are an append of ours that was never committed (a crash mid-message).
 */
export const MARKER = "X-POP3-UIDL";
const MARKER_LINE = /^X-POP3-UIDL: (\S+) \((.*)\)$/;

export interface MboxRecovery {
  /** What was done to the file's tail. */
  readonly action: "none" | "truncated" | "adopted-foreign-tail" | "shrunk";
  /** Bytes cut off (truncated) or found (foreign tail). */
  readonly bytes: number;
}

export class Mbox {
  readonly path: string;
  readonly #handle: FileHandle;
  #length: number;

  private constructor(path: string, handle: FileHandle, length: number) {
    this.path = path;
    this.#handle = handle;
    this.#length = length;
  }

  /** The committed length: where the next message goes. */
  get length(): number {
    return this.#length;
  }

  /**
   * Opens (creating it if needed) and recovers: `committed` is the length the state last recorded,
   * undefined when there is no state (then the whole file counts as committed).
   */
  static async open(
    path: string,
    committed: number | undefined,
  ): Promise<{ mbox: Mbox; recovery: MboxRecovery }> {
    let handle: FileHandle;
    try {
      handle = await open(path, "r+");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      handle = await open(path, "wx+", 0o600);
      await handle.sync();
      await fsyncDir(dirname(path));
    }
    const size = (await handle.stat()).size;
    let length = size;
    let recovery: MboxRecovery = { action: "none", bytes: 0 };
    if (committed !== undefined && size > committed) {
      if (await startsWithOurMessage(handle, committed)) {
        // Our append that the state never recorded: the message will be fetched again.
        await handle.truncate(committed);
        await handle.sync();
        length = committed;
        recovery = { action: "truncated", bytes: size - committed };
      } else {
        recovery = { action: "adopted-foreign-tail", bytes: size - committed };
      }
    } else if (committed !== undefined && size < committed) {
      recovery = { action: "shrunk", bytes: committed - size };
    }
    return { mbox: new Mbox(path, handle, length), recovery };
  }

  /** Appends one message durably; on failure the file is cut back to where it was. */
  async append(
    uid: string,
    account: string,
    chunks: AsyncIterable<Uint8Array>,
    onBytes: (received: number) => void,
  ): Promise<{ size: number; start: number; end: number }> {
    const start = this.#length;
    let position = start;
    const write = async (bytes: Uint8Array): Promise<void> => {
      let offset = 0;
      while (offset < bytes.length) {
        const { bytesWritten } = await this.#handle.write(
          bytes,
          offset,
          bytes.length - offset,
          position,
        );
        offset += bytesWritten;
        position += bytesWritten;
      }
    };
    let received = 0;
    try {
      const encoder = new MboxrdEncoder();
      const header = new HeaderPeek();
      let headerDone = false;
      const emit = async (pieces: readonly Uint8Array[]): Promise<void> => {
        for (const piece of pieces) if (piece.length > 0) await write(piece);
      };
      for await (const chunk of chunks) {
        received += chunk.length;
        onBytes(received);
        if (!headerDone) {
          const ready = header.push(chunk);
          if (ready === undefined) continue;
          headerDone = true;
          await write(fromLine(header.returnPath(), uid, account));
          await emit(encoder.push(ready));
          await failpoint("mbox-partial");
        } else {
          await emit(encoder.push(chunk));
        }
      }
      if (!headerDone) {
        await write(fromLine(header.returnPath(), uid, account));
        await emit(encoder.push(header.flush()));
      }
      await emit(encoder.end());
      await write(NEWLINE); // the blank line between messages
      await this.#handle.sync();
      await failpoint("mbox-appended");
    } catch (error) {
      await this.#handle.truncate(start).catch(() => {});
      await this.#handle.sync().catch(() => {});
      throw error;
    }
    this.#length = position;
    return { size: received, start, end: position };
  }

  async close(): Promise<void> {
    await this.#handle.close();
  }
}

const NEWLINE = Buffer.from("\n");

function fromLine(sender: string | undefined, uid: string, account: string): Buffer {
  const clean = sender?.replace(/[\s<>]/g, "") || "MAILER-DAEMON";
  return Buffer.from(`From ${clean} ${asctime(new Date())}\n${MARKER}: ${uid} (${account})\n`);
}

/** `Thu Jan  1 00:00:00 1970` in UTC, as From_ lines have it. */
export function asctime(date: Date): string {
  const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const months = [
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
  ];
  const pad = (n: number): string => String(n).padStart(2, "0");
  return `${days[date.getUTCDay()]} ${months[date.getUTCMonth()]} ${String(date.getUTCDate()).padStart(2, " ")} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} ${date.getUTCFullYear()}`;
}

/** Whether the bytes at `offset` are a From_ line followed by our marker header. */
async function startsWithOurMessage(handle: FileHandle, offset: number): Promise<boolean> {
  const buffer = Buffer.alloc(1024);
  const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
  const text = buffer.subarray(0, bytesRead).toString("latin1");
  if (!text.startsWith("From ")) return false;
  const lines = text.split("\n");
  return lines.length > 1 && (lines[1] ?? "").startsWith(`${MARKER}: `);
}

/** Reads an existing mbox's markers: which UIDs of which accounts it holds (for a lost state). */
export async function scanMarkers(
  path: string,
): Promise<{ uid: string; account: string; end: number }[]> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    return [];
  }
  if (size === 0) return [];
  const found: { uid: string; account: string; end: number }[] = [];
  let previousBlank = true;
  let afterFrom = false;
  let carry = "";
  for await (const chunk of createReadStream(path, { encoding: "latin1" })) {
    const lines = (carry + (chunk as string)).split("\n");
    carry = lines.pop() ?? "";
    for (const line of lines) {
      if (afterFrom) {
        const match = MARKER_LINE.exec(line);
        if (match !== null)
          found.push({ uid: match[1] as string, account: match[2] as string, end: size });
        afterFrom = false;
      }
      if (previousBlank && line.startsWith("From ")) afterFrom = true;
      previousBlank = line === "";
    }
  }
  return found;
}

/** Buffers the start of a message until its header ends (or 64 KiB), to read Return-Path. */
class HeaderPeek {
  #parts: Buffer[] = [];
  #size = 0;
  #text = "";

  /** The bytes so far once the header is complete, else undefined. */
  push(chunk: Uint8Array): Buffer | undefined {
    this.#parts.push(Buffer.from(chunk));
    this.#size += chunk.length;
    const all = Buffer.concat(this.#parts);
    this.#parts = [all];
    const end = all.indexOf("\r\n\r\n");
    if (end === -1 && this.#size < 65536) return undefined;
    this.#text = all.subarray(0, end === -1 ? all.length : end).toString("latin1");
    return all;
  }

  flush(): Buffer {
    const all = Buffer.concat(this.#parts);
    this.#text = all.toString("latin1");
    return all;
  }

  returnPath(): string | undefined {
    const match = /^Return-Path:[ \t]*<([^>\r\n]*)>/im.exec(this.#text);
    return match?.[1];
  }
}

const GT = 0x3e;
const LF = 0x0a;
const CR = 0x0d;
const FROM = Buffer.from("From ");

/**
 * CRLF → LF and mboxrd quoting (`>*From ` gets another `>`), streaming: lines may span chunks,
 * and a long line is never buffered whole.
 */
export class MboxrdEncoder {
  /** Inside a line whose start has been decided. */
  #mid = false;
  /** Undecided line start: `>` count, then how much of "From " matched. */
  #gt = 0;
  #matched = 0;
  /** A CR held back at a chunk's end, in case LF follows. */
  #cr = false;
  /** The last byte written was LF (or nothing was written). */
  #atLineEnd = true;

  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (!this.#mid) {
        const byte = chunk[i] as number;
        if (this.#matched === 0 && byte === GT) {
          this.#gt += 1;
          i += 1;
          continue;
        }
        if (byte === FROM[this.#matched]) {
          this.#matched += 1;
          i += 1;
          if (this.#matched === FROM.length) {
            out.push(Buffer.from(`>${">".repeat(this.#gt)}From `));
            this.#startLine();
          }
          continue;
        }
        out.push(this.#pendingPrefix());
        this.#startLine();
        continue; // this byte is handled as part of the line
      }
      const lf = chunk.indexOf(LF, i);
      if (lf === -1) {
        let end = n;
        if (this.#cr) out.push(CR_BYTE);
        this.#cr = false;
        if (end > i && chunk[end - 1] === CR) {
          this.#cr = true;
          end -= 1;
        }
        if (end > i) out.push(chunk.subarray(i, end));
        this.#atLineEnd = false;
        i = n;
      } else {
        let end = lf;
        if (this.#cr && end > i) out.push(CR_BYTE);
        this.#cr = false;
        if (end > i && chunk[end - 1] === CR) end -= 1;
        if (end > i) out.push(chunk.subarray(i, end));
        out.push(NEWLINE);
        this.#atLineEnd = true;
        this.#mid = false;
        i = lf + 1;
      }
    }
    return out;
  }

  /** Flushes what is held and ends the last line. */
  end(): Uint8Array[] {
    const out: Uint8Array[] = [];
    if (!this.#mid && (this.#gt > 0 || this.#matched > 0)) {
      out.push(this.#pendingPrefix());
      this.#atLineEnd = false;
    }
    if (this.#cr) {
      out.push(CR_BYTE);
      this.#atLineEnd = false;
    }
    this.#cr = false;
    if (!this.#atLineEnd) out.push(NEWLINE);
    this.#atLineEnd = true;
    this.#mid = false;
    this.#gt = 0;
    this.#matched = 0;
    return out;
  }

  #pendingPrefix(): Buffer {
    return Buffer.from(`${">".repeat(this.#gt)}${"From ".slice(0, this.#matched)}`);
  }

  #startLine(): void {
    this.#mid = true;
    this.#gt = 0;
    this.#matched = 0;
    this.#atLineEnd = false;
  }
}

const CR_BYTE = Buffer.from("\r");
