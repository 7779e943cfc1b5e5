import type { Secret } from "../secret";

/**
 * Every command of RFC 1939 and its extensions, as plain data. Message numbers are positive safe
 * integers; `TOP` lines may be 0. Secrets (PASS, AUTH initial response) are wrapped in `Secret`.
 */
export type Pop3Command =
  | { readonly name: "USER"; readonly user: string }
  | { readonly name: "PASS"; readonly password: Secret<string> }
  | { readonly name: "APOP"; readonly user: string; readonly digest: string }
  | {
      readonly name: "AUTH";
      /** Absent for a bare `AUTH`, which asks the server to list its mechanisms. */
      readonly mechanism?: string;
      /** Base64 text as sent; `""` is the RFC 5034 `=` (an empty initial response). */
      readonly initialResponse?: Secret<string>;
    }
  | { readonly name: "STAT" }
  | { readonly name: "LIST"; readonly msg?: number }
  | { readonly name: "RETR"; readonly msg: number }
  | { readonly name: "DELE"; readonly msg: number }
  | { readonly name: "NOOP" }
  | { readonly name: "RSET" }
  | { readonly name: "QUIT" }
  | { readonly name: "TOP"; readonly msg: number; readonly lines: number }
  | { readonly name: "UIDL"; readonly msg?: number }
  | { readonly name: "CAPA" }
  | { readonly name: "STLS" }
  | { readonly name: "UTF8" }
  | { readonly name: "LANG"; readonly tag?: string }
  /** A keyword this library does not know, kept so a server can answer `-ERR` or an extension can run. */
  | { readonly name: "UNKNOWN"; readonly keyword: string; readonly args: readonly string[] };

export type Pop3CommandName = Pop3Command["name"];

export const KNOWN_COMMANDS: readonly Exclude<Pop3CommandName, "UNKNOWN">[] = [
  "USER",
  "PASS",
  "APOP",
  "AUTH",
  "STAT",
  "LIST",
  "RETR",
  "DELE",
  "NOOP",
  "RSET",
  "QUIT",
  "TOP",
  "UIDL",
  "CAPA",
  "STLS",
  "UTF8",
  "LANG",
];

/** Limits applied when parsing command lines. */
export interface CommandLimits {
  /** Longest command line accepted, in octets, including CRLF. RFC 2449 §4 requires at least 255. */
  readonly maxLineLength: number;
  /** Longest single argument, in characters. RFC 1939 says 40; see `RFC_COMMAND_LIMITS`. */
  readonly maxArgumentLength: number;
  /** Longest line inside a SASL exchange and of an AUTH initial response (OAuth tokens are long). */
  readonly maxSaslLineLength: number;
}

/** The limits exactly as RFC 1939 §3 and RFC 2449 §4 state them. */
export const RFC_COMMAND_LIMITS: CommandLimits = {
  maxLineLength: 255,
  maxArgumentLength: 40,
  maxSaslLineLength: 255,
};

/**
 * The defaults: the RFC line minimum raised so that e-mail-address user names, generated
 * passwords and OAuth bearer tokens fit. Still small enough that no client can grow a buffer.
 */
export const DEFAULT_COMMAND_LIMITS: CommandLimits = {
  maxLineLength: 1024,
  maxArgumentLength: 255,
  maxSaslLineLength: 16384,
};
