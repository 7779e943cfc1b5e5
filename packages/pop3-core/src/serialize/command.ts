import { encodeText } from "../bytes";
import { LocalProtocolError } from "../errors";
import type { Pop3Command } from "../types/command";

const TOKEN = /^[^\0\r\n ]+$/;
const MECHANISM = /^[A-Za-z0-9_-]{1,20}$/;
const KEYWORD = /^[A-Za-z0-9]{3,4}$/;

function bad(message: string): LocalProtocolError {
  return new LocalProtocolError("POP3_BAD_ARGUMENT", message);
}

/** A single-word argument: no space, CR, LF or NUL. The value itself is never put in the error. */
function token(value: string, what: string): string {
  if (!TOKEN.test(value)) throw bad(`${what} must be non-empty without spaces, CR, LF or NUL`);
  return value;
}

function count(value: number, what: string, min: number): string {
  if (!Number.isSafeInteger(value) || value < min) {
    throw bad(`${what} must be an integer of at least ${min}`);
  }
  return String(value);
}

/**
 * The command line for `command`, without CRLF. Refuses (with `LocalProtocolError`) anything that
 * could break the line: CR, LF or NUL in any argument, spaces inside one-word arguments, invalid
 * numbers. Secrets are revealed only into the returned line.
 */
export function serializeCommand(command: Pop3Command): string {
  switch (command.name) {
    case "STAT":
    case "NOOP":
    case "RSET":
    case "QUIT":
    case "CAPA":
    case "STLS":
    case "UTF8":
      return command.name;
    case "USER":
      return `USER ${token(command.user, "user name")}`;
    case "PASS": {
      const password = command.password.reveal();
      if (password.length === 0 || /[\0\r\n]/.test(password)) {
        throw bad("password must be non-empty without CR, LF or NUL");
      }
      return `PASS ${password}`;
    }
    case "APOP":
      if (!/^[0-9a-f]{32}$/.test(command.digest))
        throw bad("APOP digest must be 32 lowercase hex digits");
      return `APOP ${token(command.user, "user name")} ${command.digest}`;
    case "AUTH": {
      if (command.mechanism === undefined) {
        if (command.initialResponse !== undefined)
          throw bad("an initial response needs a mechanism");
        return "AUTH";
      }
      if (!MECHANISM.test(command.mechanism)) throw bad("SASL mechanism name is malformed");
      if (command.initialResponse === undefined) return `AUTH ${command.mechanism}`;
      const response = command.initialResponse.reveal();
      if (response !== "" && !/^[A-Za-z0-9+/]+={0,2}$/.test(response)) {
        throw bad("initial response must be base64");
      }
      return `AUTH ${command.mechanism} ${response === "" ? "=" : response}`;
    }
    case "LIST":
    case "UIDL":
      return command.msg === undefined
        ? command.name
        : `${command.name} ${count(command.msg, "message number", 1)}`;
    case "RETR":
    case "DELE":
      return `${command.name} ${count(command.msg, "message number", 1)}`;
    case "TOP":
      return `TOP ${count(command.msg, "message number", 1)} ${count(command.lines, "line count", 0)}`;
    case "LANG":
      return command.tag === undefined ? "LANG" : `LANG ${token(command.tag, "language tag")}`;
    case "UNKNOWN": {
      if (!KEYWORD.test(command.keyword))
        throw bad("command keyword must be 3 or 4 letters or digits");
      const args = command.args.map((arg, i) => token(arg, `argument ${i + 1}`));
      return [command.keyword.toUpperCase(), ...args].join(" ");
    }
  }
}

/** The command line as bytes, CRLF included: what goes on the wire. */
export function encodeCommand(command: Pop3Command): Uint8Array {
  return encodeText(`${serializeCommand(command)}\r\n`);
}

/**
 * The command line with secrets replaced by `***`, for traces and logs. Never throws: a command
 * that could not be sent is shown as far as it is safe to show.
 */
export function redactCommand(command: Pop3Command): string {
  switch (command.name) {
    case "PASS":
      return "PASS ***";
    case "APOP":
      // MD5(timestamp + secret), with the timestamp in the greeting: whoever reads the digest
      // can test password guesses offline, as with a CRAM-MD5 response.
      return `APOP ${command.user} ***`;
    case "AUTH":
      if (command.initialResponse !== undefined) return `AUTH ${command.mechanism ?? ""} ***`;
      return command.mechanism === undefined ? "AUTH" : `AUTH ${command.mechanism}`;
    default:
      try {
        return serializeCommand(command);
      } catch {
        return `${command.name === "UNKNOWN" ? command.keyword : command.name} (unsendable)`;
      }
  }
}
