import { decodeQuoted, encodeUtf8 } from "./text";
import type { LineMatch, TranscriptMessage } from "./types";

/** Parsers of the contents of transcript lines; each reports its problems through `problem`. */

type Problem = (message: string) => void;

const UID = /^[\x21-\x7e]{1,70}$/;

/** Bytes of a `C:`/`C>` line: a quoted string, or the text as UTF-8. */
export function parseData(content: string, problem: Problem): Uint8Array | undefined {
  if (!content.startsWith('"')) return encodeUtf8(content);
  try {
    return decodeQuoted(content);
  } catch (error) {
    problem((error as Error).message);
    return undefined;
  }
}

/** `S:`/`S|` content: a quoted string (exact), `text ...` / `text...` (prefix), or exact text. */
export function parseLineMatch(content: string, problem: Problem): LineMatch | undefined {
  if (content.startsWith('"')) {
    const bytes = parseData(content, problem);
    return bytes === undefined ? undefined : { type: "exact", bytes };
  }
  if (content === "...") return { type: "prefix", bytes: new Uint8Array(0), word: false };
  if (content.endsWith(" ...")) {
    return { type: "prefix", bytes: encodeUtf8(content.slice(0, -4)), word: true };
  }
  if (content.endsWith("...")) {
    return { type: "prefix", bytes: encodeUtf8(content.slice(0, -3)), word: false };
  }
  return { type: "exact", bytes: encodeUtf8(content) };
}

/** `S~`/`S|~` content: a regular expression, matched against the whole line. */
export function parseRegex(source: string, problem: Problem): LineMatch | undefined {
  if (source === "") {
    problem("`S~` needs a regular expression");
    return undefined;
  }
  try {
    return { type: "regex", source, regex: new RegExp(`^(?:${source})$`) };
  } catch (error) {
    problem(`invalid regular expression: ${(error as Error).message}`);
    return undefined;
  }
}

/**
 * `message USER [uid=UID] <<WORD` (lines until WORD) or `message USER [uid=UID] "bytes"`, at
 * `lines[index]`. `next` is the index of the last line it took (the heredoc's end).
 */
export function parseMessage(
  lines: readonly string[],
  index: number,
  problem: Problem,
): { message: TranscriptMessage | undefined; next: number } {
  const text = (lines[index] as string).trim();
  const head = /^message\s+(\S+)(?:\s+uid=(\S*))?\s+(.*)$/.exec(text);
  if (head === null) {
    problem(
      'write `message USER [uid=UID] <<EOF` (then the lines, then EOF) or `message USER "bytes"`',
    );
    return { message: undefined, next: index };
  }
  const [, user = "", uid, body = ""] = head;
  const { bytes, next, broken } = messageBody(lines, index, body, problem);
  if (broken) return { message: undefined, next };
  if (uid !== undefined && !UID.test(uid)) {
    problem("a uid is 1-70 characters in 0x21-0x7E (RFC 1939 §7)");
    return { message: undefined, next };
  }
  if (bytes === undefined) return { message: undefined, next };
  return {
    message: { line: index + 1, user, ...(uid === undefined ? {} : { uid }), bytes },
    next,
  };
}

/**
 * The bytes after `message USER [uid=UID] `: a heredoc (lines joined with CRLF) or a quoted
 * string. `broken`: a heredoc that cannot be read, reported alone (no uid check after it).
 */
function messageBody(
  lines: readonly string[],
  index: number,
  body: string,
  problem: Problem,
): { bytes: Uint8Array | undefined; next: number; broken?: true } {
  if (body.startsWith('"')) return { bytes: parseData(body, problem), next: index };
  if (!body.startsWith("<<")) {
    problem("the message is `<<WORD` (a heredoc) or a quoted string");
    return { bytes: undefined, next: index };
  }
  const word = body.slice(2);
  if (!/^\S+$/.test(word)) {
    problem("write `<<WORD` with a terminator word, e.g. `<<EOF`");
    return { bytes: undefined, next: index, broken: true };
  }
  const end = heredocEnd(lines, index, word);
  if (end >= lines.length) {
    problem(`the message is never ended: add a line \`${word}\``);
    return { bytes: undefined, next: lines.length, broken: true };
  }
  const content = lines.slice(index + 1, end);
  return { bytes: encodeUtf8(content.map((l) => `${l}\r\n`).join("")), next: end };
}

/** The index of the line `word` after `index`, or `lines.length` when there is none. */
function heredocEnd(lines: readonly string[], index: number, word: string): number {
  let end = index + 1;
  while (end < lines.length && (lines[end] as string).trim() !== word) end += 1;
  return end;
}

/** After a misplaced `message`, skips its heredoc so its lines are not read as directives. */
export function skipHeredoc(lines: readonly string[], index: number, text: string): number {
  const word = /<<(\S+)\s*$/.exec(text)?.[1];
  if (word === undefined) return index;
  return heredocEnd(lines, index, word);
}
