import { decodeTextStrict, encodeText } from "../bytes";
import { RemoteProtocolError } from "../errors";
import { Secret } from "../secret";
import {
  type CommandLimits,
  DEFAULT_COMMAND_LIMITS,
  KNOWN_COMMANDS,
  type Pop3Command,
} from "../types/command";
import { parseMessageNumber, parseNonNegative } from "./number";

type KnownName = (typeof KNOWN_COMMANDS)[number];

const KEYWORD = /^[A-Za-z0-9]{3,4}$/;
const MECHANISM = /^[A-Za-z0-9_-]{1,20}$/;
const CONTROL = /[\0\r\n]/;

function syntax(message: string): RemoteProtocolError {
  return new RemoteProtocolError("POP3_BAD_ARGUMENT", message);
}

function arity(keyword: string, args: readonly string[], min: number, max: number): void {
  if (args.length < min || args.length > max) {
    const wanted = min === max ? `${min}` : `${min} to ${max}`;
    throw syntax(`${keyword} takes ${wanted} argument${max === 1 ? "" : "s"}, got ${args.length}`);
  }
}

/**
 * Parses one command line (without its line end) as a server receives it.
 * Keywords are case-insensitive; arguments are separated by single spaces (trailing spaces are
 * forgiven, as real clients send them); `PASS` takes the rest of the line verbatim, inner and
 * trailing spaces included. Throws `RemoteProtocolError` with code `POP3_BAD_ARGUMENT` for
 * anything malformed, or `POP3_LINE_TOO_LONG`, so a server can answer `-ERR` and carry on.
 */
export function parseCommand(
  line: Uint8Array | string,
  limits: CommandLimits = DEFAULT_COMMAND_LIMITS,
): Pop3Command {
  const text = typeof line === "string" ? line : decodeTextStrict(line);
  if (text === undefined) throw syntax("command line is not valid UTF-8");
  if (CONTROL.test(text)) throw syntax("command line contains CR, LF or NUL");

  const space = text.indexOf(" ");
  const keyword = (space === -1 ? text : text.slice(0, space)).toUpperCase();
  const rest = space === -1 ? "" : text.slice(space + 1);
  if (!KEYWORD.test(keyword)) throw syntax("command keyword must be 3 or 4 letters or digits");

  const octets = (typeof line === "string" ? encodeText(line).length : line.length) + 2;
  const lineLimit = keyword === "AUTH" ? limits.maxSaslLineLength : limits.maxLineLength;
  if (octets > lineLimit) {
    throw new RemoteProtocolError(
      "POP3_LINE_TOO_LONG",
      `command line is ${octets} octets, the limit is ${lineLimit}`,
    );
  }

  if (keyword === "PASS") {
    if (rest.length === 0) throw syntax("PASS needs a password");
    if (rest.length > limits.maxArgumentLength) throw syntax("PASS argument is too long");
    return { name: "PASS", password: new Secret(rest) };
  }

  const args = splitArguments(rest.replace(/ +$/, ""));
  for (const [index, arg] of args.entries()) {
    const isSaslResponse = keyword === "AUTH" && index === 1;
    if (!isSaslResponse && arg.length > limits.maxArgumentLength) {
      throw syntax(`${keyword} argument ${index + 1} is longer than ${limits.maxArgumentLength}`);
    }
  }

  if (!(KNOWN_COMMANDS as readonly string[]).includes(keyword)) {
    return { name: "UNKNOWN", keyword, args };
  }
  return parseKnown(keyword as KnownName, args);
}

function splitArguments(rest: string): string[] {
  if (rest.length === 0) return [];
  const args = rest.split(" ");
  if (args.some((arg) => arg.length === 0))
    throw syntax("arguments must be separated by one space");
  return args;
}

function parseKnown(keyword: KnownName, args: string[]): Pop3Command {
  switch (keyword) {
    case "STAT":
    case "NOOP":
    case "RSET":
    case "QUIT":
    case "CAPA":
    case "STLS":
    case "UTF8":
      arity(keyword, args, 0, 0);
      return { name: keyword };
    case "USER":
      arity(keyword, args, 1, 1);
      return { name: "USER", user: args[0] as string };
    case "APOP": {
      arity(keyword, args, 2, 2);
      const digest = args[1] as string;
      if (!/^[0-9a-fA-F]{32}$/.test(digest)) throw syntax("APOP digest must be 32 hex digits");
      return { name: "APOP", user: args[0] as string, digest: digest.toLowerCase() };
    }
    case "AUTH":
      return parseAuth(args);
    case "LIST":
    case "UIDL": {
      arity(keyword, args, 0, 1);
      const arg = args[0];
      return arg === undefined
        ? { name: keyword }
        : { name: keyword, msg: parseMessageNumber(arg) };
    }
    case "RETR":
    case "DELE":
      arity(keyword, args, 1, 1);
      return { name: keyword, msg: parseMessageNumber(args[0] as string) };
    case "TOP":
      arity(keyword, args, 2, 2);
      return {
        name: "TOP",
        msg: parseMessageNumber(args[0] as string),
        lines: parseNonNegative(args[1] as string, "TOP line count"),
      };
    case "LANG": {
      arity(keyword, args, 0, 1);
      const tag = args[0];
      return tag === undefined ? { name: "LANG" } : { name: "LANG", tag };
    }
    case "PASS":
      // Handled before splitting, because a password keeps its spaces.
      throw syntax("PASS is parsed separately");
  }
}

function parseAuth(args: string[]): Pop3Command {
  arity("AUTH", args, 0, 2);
  const [mechanism, initial] = args;
  if (mechanism === undefined) return { name: "AUTH" };
  if (!MECHANISM.test(mechanism)) throw syntax("AUTH mechanism name is malformed");
  const name = mechanism.toUpperCase();
  if (initial === undefined) return { name: "AUTH", mechanism: name };
  // RFC 5034 §4: "=" stands for an empty initial response.
  return {
    name: "AUTH",
    mechanism: name,
    initialResponse: new Secret(initial === "=" ? "" : initial),
  };
}
