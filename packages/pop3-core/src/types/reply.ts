/**
 * A status line: `+OK` or `-ERR`, an optional RFC 2449 response code and free text.
 * `code` is the code as sent, e.g. `SYS/TEMP`; its levels are split by `/`.
 */
export interface StatusReply {
  readonly ok: boolean;
  readonly code?: string;
  readonly text: string;
}

/** A server greeting; `apopTimestamp` is the `<...>` msg-id of RFC 1939 §7, brackets included. */
export interface Greeting extends StatusReply {
  readonly apopTimestamp?: string;
}

/** RFC 2449, 3206 and 6856 response codes that this toolkit knows by name. */
export const RESPONSE_CODES = {
  IN_USE: "IN-USE",
  LOGIN_DELAY: "LOGIN-DELAY",
  SYS_TEMP: "SYS/TEMP",
  SYS_PERM: "SYS/PERM",
  AUTH: "AUTH",
  UTF8: "UTF8",
} as const;

/** One line of a LIST answer, or the answer to `LIST n`. */
export interface ScanListing {
  readonly msg: number;
  readonly size: number;
}

/** One line of a UIDL answer, or the answer to `UIDL n`. */
export interface UidListing {
  readonly msg: number;
  readonly uid: string;
}

/** The answer to STAT. */
export interface DropListing {
  readonly count: number;
  readonly size: number;
}

/**
 * One line of the answer to a bare `LANG` (RFC 6856 §3): a language tag, and a description of the
 * language in that language (UTF-8), `""` when the server gives none.
 */
export interface LanguageListing {
  readonly tag: string;
  readonly description: string;
}
