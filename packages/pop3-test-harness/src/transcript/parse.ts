import type { TranscriptProblem } from "./parse-state";
import { bodyNotEnded, ParseState, SESSION_DIRECTIVES, type SessionDirective } from "./parse-state";
import { parseData, parseLineMatch, parseMessage, parseRegex, skipHeredoc } from "./parse-values";
import { concat } from "./text";
import type { Transcript } from "./types";

export type { TranscriptProblem };

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

/** A session line, taken apart by `SESSION_LINE`. */
interface SessionLine {
  readonly line: number;
  readonly source: string;
  readonly direction: string;
  readonly label: string;
  readonly operator: string;
  /** What follows the operator and its space. */
  readonly content: string;
}

/**
 * Parses the transcript format (see FORMAT.md). Throws `TranscriptSyntaxError` listing every
 * problem with its line number.
 */
export function parseTranscript(text: string, options: ParseOptions = {}): Transcript {
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  const state = new ParseState();
  for (let index = 0; index < lines.length; index++) index = parseLine(state, lines, index);
  state.reportUnendedBodies();
  if (state.problems.length > 0) {
    const problems = [...state.problems].sort((a, b) => a.line - b.line);
    throw new TranscriptSyntaxError(problems, lines, options.name);
  }
  return {
    ...(options.name === undefined ? {} : { name: options.name }),
    users: state.users,
    messages: state.messages,
    sessions: state.sessionLabels,
    steps: state.steps,
  };
}

/** Reads the line at `index`; returns the index of the last line it used (a heredoc takes more). */
function parseLine(state: ParseState, lines: readonly string[], index: number): number {
  const line = index + 1;
  const source = lines[index] as string;
  const trimmed = source.trim();
  if (trimmed === "" || trimmed.startsWith("#")) return index;

  const parts = SESSION_LINE.exec(source.trimStart());
  if (parts !== null) {
    const [, direction = "", label = "", operator = "", rest = ""] = parts;
    if (rest !== "" && !rest.startsWith(" ")) {
      state.problem(line, `put a space after \`${direction}${label}${operator}\``);
      return index;
    }
    parseSessionLine(state, { line, source, direction, label, operator, content: rest.slice(1) });
    return index;
  }

  const [keyword = "", ...args] = trimmed.split(/\s+/);
  if (keyword === "user" || keyword === "message") {
    return parseHeaderLine(state, lines, index, keyword, args);
  }
  if (keyword === "wait") {
    parseWait(state, line, source, args);
  } else if ((SESSION_DIRECTIVES as readonly string[]).includes(keyword)) {
    parseDirective(state, line, source, keyword as SessionDirective, args);
  } else {
    state.problem(line, unknownLine(trimmed));
  }
  return index;
}

function parseSessionLine(state: ParseState, parts: SessionLine): void {
  if (parts.direction === "C") {
    parseClientLine(state, parts);
    return;
  }
  if (parts.operator === ">") {
    state.problem(parts.line, "`S>` is not a server line: use `S:`, `S~`, `S|`, `S|~` or `S.`");
    return;
  }
  if (parts.operator === ".") {
    parseBodyEnd(state, parts);
    return;
  }
  parseServerLine(state, parts);
}

/** `C:` (a line: CRLF is added) or `C>` (bytes as they are). */
function parseClientLine(state: ParseState, parts: SessionLine): void {
  const { line, source, label, operator, content } = parts;
  if (operator !== ":" && operator !== ">") {
    state.problem(
      line,
      `\`C${operator}\` is not a client line: use \`C:\` (a line) or \`C>\` (raw bytes)`,
    );
    return;
  }
  const data = parseData(content, (m) => state.problem(line, m));
  if (data === undefined) return;
  state.useSession(label, line, source);
  const bytes = operator === ":" ? concat([data, CRLF]) : data;
  state.steps.push({ kind: "send", line, source, session: label, bytes });
}

/** `S.` or `S. ...`: the end of a multi-line answer. */
function parseBodyEnd(state: ParseState, parts: SessionLine): void {
  const { line, source, label, content } = parts;
  if (content !== "" && content !== "...") {
    state.problem(
      line,
      "`S.` ends a multi-line answer; only `S.` or `S. ...` (skip the rest) are allowed",
    );
    return;
  }
  const track = state.useSession(label, line, source);
  if (!state.openBody(track, label, line, "S.")) return;
  track.bodyFrom = undefined;
  state.steps.push({
    kind: "expect-body-end",
    line,
    source,
    session: label,
    skipRest: content === "...",
  });
}

/** `S:` / `S~` (a status line) or `S|` / `S|~` (a body line). */
function parseServerLine(state: ParseState, parts: SessionLine): void {
  const { line, source, label, operator, content } = parts;
  const problem = (message: string): void => state.problem(line, message);
  const regex = operator === "~" || operator === "|~";
  const match = regex ? parseRegex(content, problem) : parseLineMatch(content, problem);
  if (match === undefined) return;
  const track = state.useSession(label, line, source);
  if (operator === "|" || operator === "|~") {
    if (!state.openBody(track, label, line, `S${operator}`)) return;
    state.steps.push({ kind: "expect-body-line", line, source, session: label, match });
    return;
  }
  if (operator === ":" && content === ".") {
    problem("`S: .` would expect a status line `.`; end a multi-line answer with `S.`");
    track.bodyFrom = undefined;
    return;
  }
  if (track.bodyFrom !== undefined) {
    problem(bodyNotEnded(label, track.bodyFrom));
    track.bodyFrom = undefined; // reported once, not again at the end
    return;
  }
  const step = {
    kind: "expect-line" as const,
    line,
    source,
    session: label,
    match,
    opensBody: false,
  };
  track.lastStatus = step;
  state.steps.push(step);
}

/** `user NAME PASSWORD` or `message ...`, only before the first session line. */
function parseHeaderLine(
  state: ParseState,
  lines: readonly string[],
  index: number,
  keyword: "user" | "message",
  args: readonly string[],
): number {
  const line = index + 1;
  if (state.steps.length > 0) {
    state.problem(line, `\`${keyword}\` belongs in the header, before the first session line`);
    return keyword === "message"
      ? skipHeredoc(lines, index, (lines[index] as string).trim())
      : index;
  }
  if (keyword === "user") {
    const [name, password, ...extra] = args;
    if (name === undefined || password === undefined || extra.length > 0) {
      state.problem(line, "write `user NAME PASSWORD` (no spaces in either)");
    } else {
      state.addUser(line, name, password);
    }
    return index;
  }
  const parsed = parseMessage(lines, index, (m) => state.problem(line, m));
  if (parsed.message !== undefined) state.addMessage(line, parsed.message);
  return parsed.next;
}

/** `wait 200ms` or `wait 1.5s`. */
function parseWait(state: ParseState, line: number, source: string, args: readonly string[]) {
  const duration = args.length === 1 ? DURATION.exec(args[0] as string) : null;
  if (duration === null) {
    state.problem(line, "write `wait 200ms` or `wait 1.5s`");
    return;
  }
  const value = Number(duration[1]);
  state.steps.push({ kind: "wait", line, source, ms: duration[2] === "s" ? value * 1000 : value });
}

/** `connect`, `close`, `expect-close` or `starttls`, each with an optional session label. */
function parseDirective(
  state: ParseState,
  line: number,
  source: string,
  directive: SessionDirective,
  args: readonly string[],
): void {
  const [label = "", ...extra] = args;
  if (extra.length > 0 || (label !== "" && !LABEL.test(label))) {
    state.problem(
      line,
      `write \`${directive}\` or \`${directive} LABEL\` (LABEL: letters, digits, _ and -)`,
    );
    return;
  }
  state.directive(directive, label, line, source);
}

function unknownLine(text: string): string {
  if (/^[CS][A-Za-z0-9_-]*\s/.test(text) || /^[CS]$/.test(text)) {
    return "a session line needs its operator right after C/S and the label: `C:`, `C>`, `S:`, `S~`, `S|`, `S|~` or `S.`";
  }
  const word = text.split(/\s+/)[0];
  return `unknown line ${JSON.stringify(word)}: expected \`C:\`, \`C>\`, \`S:\`, \`S~\`, \`S|\`, \`S|~\`, \`S.\`, a comment (#) or one of user, message, connect, close, expect-close, starttls, wait`;
}
