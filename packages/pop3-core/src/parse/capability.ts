import { Capabilities, type Capability } from "../types/capability";
import { asciiUpper, parseDecimal, rejectLineBreakOrNul } from "./reply-common";

/** Capabilities that take no arguments. */
const NO_ARGUMENTS = [
  "TOP",
  "UIDL",
  "USER",
  "RESP-CODES",
  "AUTH-RESP-CODE",
  "PIPELINING",
  "STLS",
  "LANG",
] as const;

type ArgumentlessName = (typeof NO_ARGUMENTS)[number];

function isArgumentless(name: string): name is ArgumentlessName {
  return (NO_ARGUMENTS as readonly string[]).includes(name);
}

/** A line that holds nothing but spaces and tabs. */
const BLANK = /^[ \t]*$/;

/**
 * Parses the body of a CAPA answer (RFC 2449 §5–6, RFC 2595, RFC 3206, RFC 6856): the lines
 * between `+OK` and `.`, already unstuffed, without CRLF. Blank lines are skipped.
 * See `parseCapabilityLine` for a single line.
 *
 * @throws RemoteProtocolError `POP3_PROTOCOL` only for a line holding CR, LF or NUL.
 */
export function parseCapabilities(lines: readonly string[]): Capabilities {
  const list: Capability[] = [];
  for (const line of lines) {
    const capability = parseCapabilityLine(line);
    if (capability !== undefined) list.push(capability);
  }
  return new Capabilities(list);
}

/**
 * Parses one CAPA line; `undefined` for a blank line. Lenient, so that one odd line never breaks
 * a client:
 *
 * - The keyword is case-insensitive; words are separated by runs of spaces or tabs, and leading
 *   and trailing blanks are ignored.
 * - Known keywords get their typed form: SASL mechanisms upper-cased (`SASL` without mechanisms
 *   gives an empty list); `LOGIN-DELAY secs [USER]`; `EXPIRE days|NEVER [USER]`; `UTF8 [USER]`
 *   (`USER` and `NEVER` case-insensitive); `IMPLEMENTATION` keeps the rest of the line after the
 *   keyword and one blank verbatim (it may be empty).
 * - A known keyword whose arguments do not fit its grammar (`LOGIN-DELAY abc`, `TOP 1`,
 *   `UTF8 FOO`) becomes `OTHER`, like every unknown keyword. `OTHER` keeps the keyword and the
 *   arguments exactly as sent (no upper-casing; `Capabilities.other()` compares case-insensitively).
 *
 * @throws RemoteProtocolError `POP3_PROTOCOL` only for a line holding CR, LF or NUL.
 */
export function parseCapabilityLine(line: string): Capability | undefined {
  rejectLineBreakOrNul(line, "capability line");
  if (BLANK.test(line)) return undefined;
  const body = line.replace(/^[ \t]+/, "");
  const separator = body.search(/[ \t]/);
  const keyword = separator === -1 ? body : body.slice(0, separator);
  const rest = separator === -1 ? "" : body.slice(separator + 1);
  const args = rest.split(/[ \t]+/).filter((word) => word !== "");
  const name = asciiUpper(keyword);
  return typed(name, args, rest) ?? { name: "OTHER", keyword, args };
}

function typed(name: string, args: readonly string[], rest: string): Capability | undefined {
  if (isArgumentless(name)) return args.length === 0 ? { name } : undefined;
  switch (name) {
    case "SASL":
      return { name, mechanisms: args.map(asciiUpper) };
    case "IMPLEMENTATION":
      return { name, text: rest };
    case "LOGIN-DELAY": {
      const seconds = parseDecimal(args[0] ?? "");
      const perUser = userFlag(args, 1);
      return seconds === undefined || perUser === undefined
        ? undefined
        : { name, seconds, perUser };
    }
    case "EXPIRE": {
      const first = args[0] ?? "";
      const days = asciiUpper(first) === "NEVER" ? "NEVER" : parseDecimal(first);
      const perUser = userFlag(args, 1);
      return days === undefined || perUser === undefined ? undefined : { name, days, perUser };
    }
    case "UTF8": {
      const user = userFlag(args, 0);
      return user === undefined ? undefined : { name, user };
    }
    default:
      return undefined;
  }
}

/** `args` ends at `index` (false) or has exactly one more word, `USER` (true); else undefined. */
function userFlag(args: readonly string[], index: number): boolean | undefined {
  if (args.length === index) return false;
  if (args.length === index + 1 && asciiUpper(args[index] as string) === "USER") return true;
  return undefined;
}

/**
 * Parses the multi-line answer to a bare `AUTH` (not in RFC 5034, but Dovecot and others list
 * their mechanisms this way, one per line): mechanisms upper-cased, in order. Blank lines are
 * skipped; a line with several words gives several mechanisms.
 *
 * @throws RemoteProtocolError `POP3_PROTOCOL` only for a line holding CR, LF or NUL.
 */
export function parseMechanismList(lines: readonly string[]): string[] {
  const mechanisms: string[] = [];
  for (const line of lines) {
    rejectLineBreakOrNul(line, "mechanism list line");
    for (const word of line.split(/[ \t]+/)) {
      if (word !== "") mechanisms.push(asciiUpper(word));
    }
  }
  return mechanisms;
}
