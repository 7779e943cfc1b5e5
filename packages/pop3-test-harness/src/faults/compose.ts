import {
  encodeMultiline,
  type Pop3Command,
  parseDropListing,
  parseScanListing,
  serializeDropListing,
  serializeScanListing,
} from "pop3-core";
import type { Fault } from "./types";

const CRLF = Buffer.from("\r\n");
const TERMINATOR = Buffer.from(".\r\n");

/**
 * The bytes of one answer as the faulty server sends them. `status` is the status line as the
 * real server sent it (without CRLF); `body` the unstuffed multi-line body, if any.
 */
export function composeAnswer(
  command: Pop3Command | undefined,
  status: Uint8Array,
  body: Uint8Array | undefined,
  fault: Fault | undefined,
): Buffer {
  let statusText = Buffer.from(status).toString("latin1");
  let bodyBytes = body;
  if (fault?.type === "wrong-size") {
    statusText = shiftStatusSizes(command, statusText, fault.delta);
    if (bodyBytes !== undefined && command?.name === "LIST")
      bodyBytes = shiftListing(bodyBytes, fault.delta);
  }
  if (fault?.type === "nul-bytes") statusText = statusText.replace(/^(\+OK|-ERR)/, "$1\0");
  const head = Buffer.concat([Buffer.from(statusText, "latin1"), CRLF]);
  let answer = bodyBytes === undefined ? head : Buffer.concat([head, encodeBody(bodyBytes, fault)]);
  if (fault?.type === "bare-lf")
    answer = Buffer.from(answer.toString("latin1").replace(/\r\n/g, "\n"), "latin1");
  return answer;
}

function encodeBody(body: Uint8Array, fault: Fault | undefined): Buffer {
  if (fault?.type === "no-dot-stuffing") {
    // The body as stored, CRLF-terminated, with no dot doubled: what broken servers send.
    const ends =
      body.length === 0 || (body[body.length - 2] === 0x0d && body[body.length - 1] === 0x0a);
    return Buffer.concat([body, ends ? Buffer.alloc(0) : CRLF, TERMINATOR]);
  }
  const encoded = Buffer.from(encodeMultiline(body));
  if (fault?.type === "no-final-line-end" && encoded.length > 3) {
    // Drop the CRLF of the last line, so the terminator's dot trails the text.
    return Buffer.concat([encoded.subarray(0, encoded.length - 5), TERMINATOR]);
  }
  return encoded;
}

function shiftStatusSizes(command: Pop3Command | undefined, text: string, delta: number): string {
  const match = /^(\+OK )(.*)$/.exec(text);
  if (match === null) return text;
  const rest = match[2] as string;
  try {
    if (command?.name === "STAT") {
      const drop = parseDropListing(rest);
      return `+OK ${serializeDropListing({ count: drop.count, size: drop.size + delta })}`;
    }
    if (command?.name === "LIST" && command.msg !== undefined) {
      const entry = parseScanListing(rest);
      return `+OK ${serializeScanListing({ msg: entry.msg, size: Math.max(0, entry.size + delta) })}`;
    }
  } catch {
    return text;
  }
  // `+OK 120 octets` after RETR.
  return text.replace(/^\+OK (\d+)/, (_, n: string) => `+OK ${Math.max(0, Number(n) + delta)}`);
}

function shiftListing(body: Uint8Array, delta: number): Uint8Array {
  const lines = Buffer.from(body)
    .toString("latin1")
    .split("\r\n")
    .filter((l) => l !== "");
  const shifted = lines.map((line) => {
    const entry = parseScanListing(line);
    return serializeScanListing({ msg: entry.msg, size: Math.max(0, entry.size + delta) });
  });
  return Buffer.from(shifted.map((l) => `${l}\r\n`).join(""), "latin1");
}
