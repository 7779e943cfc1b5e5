import { concat, decodeQuoted, encodeUtf8 } from "./text";
import type {
  ExpectLineStep,
  LineMatch,
  Transcript,
  TranscriptMessage,
  TranscriptStep,
  TranscriptUser,
} from "./types";

/** One problem found in a transcript. */
export interface TranscriptProblem {
  /** 1-based line number. */
  readonly line: number;
  readonly message: string;
}

/** A transcript that cannot be parsed; `problems` lists every error found, in line order. */
export class TranscriptSyntaxError extends Error {
  override readonly name = "TranscriptSyntaxError";
  readonly problems: readonly TranscriptProblem[];
  /** The first problem's line. */
  readonly line: number;

  constructor(problems: readonly TranscriptProblem[], lines: readonly string[], name?: string) {
    const where = name ?? "transcript";
    super(
      problems
        .map((p) => {
          const text = lines[p.line - 1];
          return `${where}:${p.line}: ${p.message}${text === undefined ? "" : `\n  ${p.line} | ${text}`}`;
        })
        .join("\n"),
    );
    this.problems = problems;
    this.line = problems[0]?.line ?? 0;
  }
}

export interface ParseOptions {
  /** A file name or label for messages. */
  readonly name?: string;
}

const CRLF = Uint8Array.of(0x0d, 0x0a);
/** Direction, session label, operator, rest of the line. */
const SESSION_LINE = /^([CS])([A-Za-z0-9_-]*)(\|~|[:~>|.])(.*)$/s;
const LABEL = /^[A-Za-z0-9_-]+$/;
const DURATION = /^(\d+(?:\.\d+)?)(ms|s)$/;
const UID = /^[\x21-\x7e]{1,70}$/;
const SESSION_DIRECTIVES = ["connect", "close", "expect-close", "starttls"] as const;
type SessionDirective = (typeof SESSION_DIRECTIVES)[number];

interface SessionTrack {
  open: boolean;
  /** Where the last connection was closed (`close` / `expect-close`). */
  closedAt: number | undefined;
  /** The last expectation of the session, when it is a status line: `S|`/`S.` may then follow. */
  lastStatus: { -readonly [K in keyof ExpectLineStep]: ExpectLineStep[K] } | undefined;
  /** The line of the status line whose multi-line body is still open. */
  bodyFrom: number | undefined;
}

/**
 * Parses the transcript format (see FORMAT.md). Throws `TranscriptSyntaxError` listing every
 * problem with its line number.
 */
export function parseTranscript(text: string, options: ParseOptions = {}): Transcript {
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  const problems: TranscriptProblem[] = [];
  const users: TranscriptUser[] = [];
  const messages: TranscriptMessage[] = [];
  const steps: TranscriptStep[] = [];
  const sessions = new Map<string, SessionTrack>();
  const uidsByUser = new Map<string, Set<string>>();
  const problem = (line: number, message: string): void => {
    problems.push({ line, message });
  };

  /** The session's tracking state; connects it (implicitly, or reports a closed session). */
  const useSession = (label: string, line: number, source: string): SessionTrack => {
    let track = sessions.get(label);
    if (track === undefined) {
      track = { open: false, closedAt: undefined, lastStatus: undefined, bodyFrom: undefined };
      sessions.set(label, track);
    }
    if (!track.open) {
      if (track.closedAt !== undefined) {
        problem(
          line,
          `${sessionName(label)} was closed on line ${track.closedAt}; write \`connect${label === "" ? "" : ` ${label}`}\` to open a new connection`,
        );
      }
      track.open = true;
      track.closedAt = undefined;
      steps.push({ kind: "connect", line, source, session: label, implicit: true });
    }
    return track;
  };

  for (let index = 0; index < lines.length; index++) {
    const lineNo = index + 1;
    const source = lines[index] as string;
    const trimmed = source.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;

    const sessionLine = SESSION_LINE.exec(source.trimStart());
    if (sessionLine !== null) {
      const [, direction, label = "", operator = "", rest = ""] = sessionLine;
      if (rest !== "" && !rest.startsWith(" ")) {
        problem(lineNo, `put a space after \`${direction}${label}${operator}\``);
        continue;
      }
      const content = rest.slice(1);
      if (direction === "C") {
        if (operator !== ":" && operator !== ">") {
          problem(
            lineNo,
            `\`C${operator}\` is not a client line: use \`C:\` (a line) or \`C>\` (raw bytes)`,
          );
          continue;
        }
        const data = parseData(content, (m) => problem(lineNo, m));
        if (data === undefined) continue;
        useSession(label, lineNo, source);
        steps.push({
          kind: "send",
          line: lineNo,
          source,
          session: label,
          bytes: operator === ":" ? concat([data, CRLF]) : data,
        });
        continue;
      }
      if (operator === ">") {
        problem(lineNo, "`S>` is not a server line: use `S:`, `S~`, `S|`, `S|~` or `S.`");
        continue;
      }
      if (operator === ".") {
        if (content !== "" && content !== "...") {
          problem(
            lineNo,
            "`S.` ends a multi-line answer; only `S.` or `S. ...` (skip the rest) are allowed",
          );
          continue;
        }
        const track = useSession(label, lineNo, source);
        if (!openBody(track, label, lineNo, "S.", problem)) continue;
        track.bodyFrom = undefined;
        steps.push({
          kind: "expect-body-end",
          line: lineNo,
          source,
          session: label,
          skipRest: content === "...",
        });
        continue;
      }
      const match =
        operator === "~" || operator === "|~"
          ? parseRegex(content, (m) => problem(lineNo, m))
          : parseLineMatch(content, (m) => problem(lineNo, m));
      if (match === undefined) continue;
      const track = useSession(label, lineNo, source);
      if (operator === "|" || operator === "|~") {
        if (!openBody(track, label, lineNo, `S${operator}`, problem)) continue;
        steps.push({ kind: "expect-body-line", line: lineNo, source, session: label, match });
        continue;
      }
      if (operator === ":" && content === ".") {
        problem(lineNo, "`S: .` would expect a status line `.`; end a multi-line answer with `S.`");
        track.bodyFrom = undefined;
        continue;
      }
      if (track.bodyFrom !== undefined) {
        problem(lineNo, bodyNotEnded(label, track.bodyFrom));
        track.bodyFrom = undefined; // reported once, not again at the end
        continue;
      }
      const step = {
        kind: "expect-line" as const,
        line: lineNo,
        source,
        session: label,
        match,
        opensBody: false,
      };
      track.lastStatus = step;
      steps.push(step);
      continue;
    }

    const [keyword = "", ...args] = trimmed.split(/\s+/);
    if (keyword === "user" || keyword === "message") {
      if (steps.length > 0) {
        problem(lineNo, `\`${keyword}\` belongs in the header, before the first session line`);
        if (keyword === "message") index = skipHeredoc(lines, index, trimmed);
        continue;
      }
      if (keyword === "user") {
        const [name, password, ...extra] = args;
        if (name === undefined || password === undefined || extra.length > 0) {
          problem(lineNo, "write `user NAME PASSWORD` (no spaces in either)");
        } else if (users.some((u) => u.name === name)) {
          problem(lineNo, `user ${name} is already declared`);
        } else {
          users.push({ line: lineNo, name, password });
          uidsByUser.set(name, new Set());
        }
        continue;
      }
      const parsed = parseMessage(lines, index, (m) => problem(lineNo, m));
      index = parsed.next;
      if (parsed.message === undefined) continue;
      const { user, uid } = parsed.message;
      const uids = uidsByUser.get(user);
      if (uids === undefined) {
        problem(
          lineNo,
          `message for unknown user ${user}: declare \`user ${user} PASSWORD\` first`,
        );
        continue;
      }
      if (uid !== undefined) {
        if (uids.has(uid)) {
          problem(lineNo, `uid ${uid} is already used by another message of ${user}`);
          continue;
        }
        uids.add(uid);
      }
      messages.push(parsed.message);
      continue;
    }

    if (keyword === "wait") {
      const duration = args.length === 1 ? DURATION.exec(args[0] as string) : null;
      if (duration === null) {
        problem(lineNo, "write `wait 200ms` or `wait 1.5s`");
        continue;
      }
      const value = Number(duration[1]);
      steps.push({
        kind: "wait",
        line: lineNo,
        source,
        ms: duration[2] === "s" ? value * 1000 : value,
      });
      continue;
    }

    if ((SESSION_DIRECTIVES as readonly string[]).includes(keyword)) {
      const directive = keyword as SessionDirective;
      const [label = "", ...extra] = args;
      if (extra.length > 0 || (label !== "" && !LABEL.test(label))) {
        problem(
          lineNo,
          `write \`${directive}\` or \`${directive} LABEL\` (LABEL: letters, digits, _ and -)`,
        );
        continue;
      }
      sessionDirective(directive, label, lineNo, source);
      continue;
    }

    problem(lineNo, unknownLine(trimmed));
  }

  for (const [label, track] of sessions) {
    if (track.bodyFrom !== undefined) {
      problem(
        track.bodyFrom,
        `${bodyOwner(label)} multi-line answer started here is never ended with \`S.\``,
      );
    }
  }

  if (problems.length > 0) {
    problems.sort((a, b) => a.line - b.line);
    throw new TranscriptSyntaxError(problems, lines, options.name);
  }
  return {
    ...(options.name === undefined ? {} : { name: options.name }),
    users,
    messages,
    sessions: [...sessions.keys()],
    steps,
  };

  function sessionDirective(
    directive: SessionDirective,
    label: string,
    lineNo: number,
    source: string,
  ): void {
    const track = sessions.get(label);
    const open = track?.open === true;
    switch (directive) {
      case "connect":
        if (open) {
          problem(lineNo, `${sessionName(label)} is already connected; \`close\` it first`);
          return;
        }
        sessions.set(label, {
          open: true,
          closedAt: undefined,
          lastStatus: undefined,
          bodyFrom: undefined,
        });
        steps.push({ kind: "connect", line: lineNo, source, session: label, implicit: false });
        return;
      case "close":
      case "expect-close":
      case "starttls":
        if (track === undefined || !open) {
          problem(lineNo, `\`${directive}\`: ${sessionName(label)} is not connected`);
          return;
        }
        if (directive !== "close" && track.bodyFrom !== undefined) {
          problem(lineNo, bodyNotEnded(label, track.bodyFrom));
          track.bodyFrom = undefined;
          return;
        }
        track.lastStatus = undefined;
        track.bodyFrom = undefined;
        if (directive !== "starttls") {
          track.open = false;
          track.closedAt = lineNo;
        }
        steps.push({ kind: directive, line: lineNo, source, session: label });
        return;
    }
  }
}

/** Checks that `S|`/`S.` may come now, opening the body after a status line if needed. */
function openBody(
  track: SessionTrack,
  label: string,
  lineNo: number,
  operator: string,
  problem: (line: number, message: string) => void,
): boolean {
  if (track.bodyFrom !== undefined) return true;
  const status = track.lastStatus;
  if (status === undefined) {
    problem(
      lineNo,
      `\`${operator}\` must follow the status line of a multi-line answer (\`S${label}: +OK ...\`) or another \`S${label}|\` line`,
    );
    return false;
  }
  status.opensBody = true;
  track.bodyFrom = status.line;
  track.lastStatus = undefined;
  return true;
}

/** Bytes of a `C:`/`C>` line: a quoted string, or the text as UTF-8. */
function parseData(content: string, problem: (message: string) => void): Uint8Array | undefined {
  if (!content.startsWith('"')) return encodeUtf8(content);
  try {
    return decodeQuoted(content);
  } catch (error) {
    problem((error as Error).message);
    return undefined;
  }
}

/** `S:`/`S|` content: a quoted string (exact), `text ...` / `text...` (prefix), or exact text. */
function parseLineMatch(
  content: string,
  problem: (message: string) => void,
): LineMatch | undefined {
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

function parseRegex(source: string, problem: (message: string) => void): LineMatch | undefined {
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

/** `message USER [uid=UID] <<WORD` (lines until WORD) or `message USER [uid=UID] "bytes"`. */
function parseMessage(
  lines: readonly string[],
  index: number,
  problem: (message: string) => void,
): { message: TranscriptMessage | undefined; next: number } {
  const lineNo = index + 1;
  const text = (lines[index] as string).trim();
  const head = /^message\s+(\S+)(?:\s+uid=(\S*))?\s+(.*)$/.exec(text);
  if (head === null) {
    problem(
      'write `message USER [uid=UID] <<EOF` (then the lines, then EOF) or `message USER "bytes"`',
    );
    return { message: undefined, next: index };
  }
  const [, user = "", uid, body = ""] = head;
  let bytes: Uint8Array | undefined;
  let next = index;
  if (body.startsWith("<<")) {
    const word = body.slice(2);
    if (!/^\S+$/.test(word)) {
      problem("write `<<WORD` with a terminator word, e.g. `<<EOF`");
      return { message: undefined, next: index };
    }
    const content: string[] = [];
    let end = index + 1;
    while (end < lines.length && (lines[end] as string).trim() !== word) {
      content.push(lines[end] as string);
      end += 1;
    }
    if (end >= lines.length) {
      problem(`the message is never ended: add a line \`${word}\``);
      return { message: undefined, next: lines.length };
    }
    bytes = encodeUtf8(content.map((l) => `${l}\r\n`).join(""));
    next = end;
  } else if (body.startsWith('"')) {
    bytes = parseData(body, problem);
  } else {
    problem("the message is `<<WORD` (a heredoc) or a quoted string");
  }
  if (uid !== undefined && !UID.test(uid)) {
    problem("a uid is 1-70 characters in 0x21-0x7E (RFC 1939 §7)");
    return { message: undefined, next };
  }
  if (bytes === undefined) return { message: undefined, next };
  return {
    message: { line: lineNo, user, ...(uid === undefined ? {} : { uid }), bytes },
    next,
  };
}

/** After a misplaced `message`, skips its heredoc so its lines are not read as directives. */
function skipHeredoc(lines: readonly string[], index: number, text: string): number {
  const word = /<<(\S+)\s*$/.exec(text)?.[1];
  if (word === undefined) return index;
  for (let end = index + 1; end < lines.length; end++) {
    if ((lines[end] as string).trim() === word) return end;
  }
  return lines.length;
}

function sessionName(label: string): string {
  return label === "" ? "the session" : `session ${label}`;
}

function bodyOwner(label: string): string {
  return label === "" ? "the" : `session ${label}'s`;
}

function bodyNotEnded(label: string, from: number): string {
  return `${bodyOwner(label)} multi-line answer started on line ${from} is not ended: add \`S${label}.\` (or \`S${label}. ...\`) first`;
}

function unknownLine(text: string): string {
  if (/^[CS][A-Za-z0-9_-]*\s/.test(text) || /^[CS]$/.test(text)) {
    return "a session line needs its operator right after C/S and the label: `C:`, `C>`, `S:`, `S~`, `S|`, `S|~` or `S.`";
  }
  const word = text.split(/\s+/)[0];
  return `unknown line ${JSON.stringify(word)}: expected \`C:\`, \`C>\`, \`S:\`, \`S~\`, \`S|\`, \`S|~\`, \`S.\`, a comment (#) or one of user, message, connect, close, expect-close, starttls, wait`;
}
