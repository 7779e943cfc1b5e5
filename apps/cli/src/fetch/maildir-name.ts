import { createHash } from "node:crypto";
import { hostname } from "node:os";

/**
 * Maildir file names as the Maildir convention has them: `time.M<usec>P<pid>Q<n>.host`, with
 * `,S=<size>` (Maildir++) once the size is known, and `:2,<flags>` added by a mail reader that
 * moves the file to `cur/`. The name starts with the delivery time, so a listing sorted by name
 * is sorted by arrival; the microseconds are zero-padded to six digits so that this holds within
 * one second too.
 */
export class MaildirNamer {
  readonly #host: string;
  /** Deliveries named by this namer (the `Q` part): unique within the process's second. */
  #deliveries = 0;

  constructor(host: string = hostname()) {
    this.#host = sanitiseHost(host);
  }

  /** A new unique base name (without `,S=` and flags). */
  next(now: number = performance.timeOrigin + performance.now()): string {
    this.#deliveries += 1;
    const seconds = Math.floor(now / 1000);
    const micros = Math.floor((now * 1000) % 1_000_000);
    return `${seconds}.M${String(micros).padStart(6, "0")}P${process.pid}Q${this.#deliveries}.${this.#host}`;
  }
}

/**
 * The host part may hold neither `/` (a path separator) nor `:` (which starts the flags); they
 * become `\057` and `\072`, as the convention says. `,` (which starts the Maildir++ fields such
 * as `S=`) becomes `\054` for the same reason.
 */
export function sanitiseHost(host: string): string {
  return host.replace(/[/:,]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
}

/** `base,S=size`: the name a message gets in `new/`. */
export function withSize(base: string, size: number): string {
  return `${base},S=${size}`;
}

/**
 * The part of a file name that identifies the message: without the flags (`:2,S`, or `!2,S` on
 * file systems that forbid `:`) and without the Maildir++ fields (`,S=1234`).
 */
export function baseOf(name: string): string {
  const flags = name.search(/[:!;]/);
  const withoutFlags = flags === -1 ? name : name.slice(0, flags);
  const fields = withoutFlags.indexOf(",");
  return fields === -1 ? withoutFlags : withoutFlags.slice(0, fields);
}

/** The `S=` size in a name, if it has one. */
export function sizeOf(name: string): number | undefined {
  const match = /,S=(\d+)/.exec(name);
  return match === null ? undefined : Number(match[1]);
}

/**
 * The name earlier versions of pop3-cli gave a message: `pop3.` and 40 hex digits of a hash of
 * host, user and UID. Still recognised, so that a Maildir they filled never gets a second copy.
 */
export function legacyName(host: string, user: string, uid: string): string {
  const hash = createHash("sha256").update(`pop3-cli\0${host}\0${user}\0${uid}`).digest("hex");
  return `pop3.${hash.slice(0, 40)}`;
}
