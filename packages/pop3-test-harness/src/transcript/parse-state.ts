import type { ExpectLineStep, TranscriptMessage, TranscriptStep, TranscriptUser } from "./types";

/** One problem found in a transcript. */
export interface TranscriptProblem {
  /** 1-based line number. */
  readonly line: number;
  readonly message: string;
}

export const SESSION_DIRECTIVES = ["connect", "close", "expect-close", "starttls"] as const;
export type SessionDirective = (typeof SESSION_DIRECTIVES)[number];

/** What the parser knows about one session while it reads the file. */
export interface SessionTrack {
  open: boolean;
  /** Where the last connection was closed (`close` / `expect-close`). */
  closedAt: number | undefined;
  /** The last expectation of the session, when it is a status line: `S|`/`S.` may then follow. */
  lastStatus: { -readonly [K in keyof ExpectLineStep]: ExpectLineStep[K] } | undefined;
  /** The line of the status line whose multi-line body is still open. */
  bodyFrom: number | undefined;
}

const newTrack = (open: boolean): SessionTrack => ({
  open,
  closedAt: undefined,
  lastStatus: undefined,
  bodyFrom: undefined,
});

/**
 * Everything `parseTranscript` collects while it reads a transcript, line by line: the header's
 * users and messages, the steps, every problem, and each session's state (open or closed, a
 * multi-line body in progress), which decides whether a line may come where it is.
 */
export class ParseState {
  readonly problems: TranscriptProblem[] = [];
  readonly users: TranscriptUser[] = [];
  readonly messages: TranscriptMessage[] = [];
  readonly steps: TranscriptStep[] = [];
  readonly #sessions = new Map<string, SessionTrack>();
  readonly #uidsByUser = new Map<string, Set<string>>();

  problem(line: number, message: string): void {
    this.problems.push({ line, message });
  }

  /** Session labels in the order they are first used. */
  get sessionLabels(): string[] {
    return [...this.#sessions.keys()];
  }

  /** The session's tracking state; connects it (implicitly, or reports a closed session). */
  useSession(label: string, line: number, source: string): SessionTrack {
    let track = this.#sessions.get(label);
    if (track === undefined) {
      track = newTrack(false);
      this.#sessions.set(label, track);
    }
    if (!track.open) {
      if (track.closedAt !== undefined) {
        this.problem(
          line,
          `${sessionName(label)} was closed on line ${track.closedAt}; write \`connect${label === "" ? "" : ` ${label}`}\` to open a new connection`,
        );
      }
      track.open = true;
      track.closedAt = undefined;
      this.steps.push({ kind: "connect", line, source, session: label, implicit: true });
    }
    return track;
  }

  /** Checks that `S|`/`S.` may come now, opening the body after a status line if needed. */
  openBody(track: SessionTrack, label: string, line: number, operator: string): boolean {
    if (track.bodyFrom !== undefined) return true;
    const status = track.lastStatus;
    if (status === undefined) {
      this.problem(
        line,
        `\`${operator}\` must follow the status line of a multi-line answer (\`S${label}: +OK ...\`) or another \`S${label}|\` line`,
      );
      return false;
    }
    status.opensBody = true;
    track.bodyFrom = status.line;
    track.lastStatus = undefined;
    return true;
  }

  /** `connect`, `close`, `expect-close` or `starttls`, checked against the session's state. */
  directive(directive: SessionDirective, label: string, line: number, source: string): void {
    const track = this.#sessions.get(label);
    const open = track?.open === true;
    if (directive === "connect") {
      if (open) {
        this.problem(line, `${sessionName(label)} is already connected; \`close\` it first`);
        return;
      }
      this.#sessions.set(label, newTrack(true));
      this.steps.push({ kind: "connect", line, source, session: label, implicit: false });
      return;
    }
    if (track === undefined || !open) {
      this.problem(line, `\`${directive}\`: ${sessionName(label)} is not connected`);
      return;
    }
    if (directive !== "close" && track.bodyFrom !== undefined) {
      this.problem(line, bodyNotEnded(label, track.bodyFrom));
      track.bodyFrom = undefined;
      return;
    }
    track.lastStatus = undefined;
    track.bodyFrom = undefined;
    if (directive !== "starttls") {
      track.open = false;
      track.closedAt = line;
    }
    this.steps.push({ kind: directive, line, source, session: label });
  }

  /** `user NAME PASSWORD`. */
  addUser(line: number, name: string, password: string): void {
    if (this.users.some((u) => u.name === name)) {
      this.problem(line, `user ${name} is already declared`);
      return;
    }
    this.users.push({ line, name, password });
    this.#uidsByUser.set(name, new Set());
  }

  /** A parsed `message` line: its user must be declared, its uid new for that user. */
  addMessage(line: number, message: TranscriptMessage): void {
    const { user, uid } = message;
    const uids = this.#uidsByUser.get(user);
    if (uids === undefined) {
      this.problem(
        line,
        `message for unknown user ${user}: declare \`user ${user} PASSWORD\` first`,
      );
      return;
    }
    if (uid !== undefined) {
      if (uids.has(uid)) {
        this.problem(line, `uid ${uid} is already used by another message of ${user}`);
        return;
      }
      uids.add(uid);
    }
    this.messages.push(message);
  }

  /** At the end of the file: a multi-line answer still open is a problem at its status line. */
  reportUnendedBodies(): void {
    for (const [label, track] of this.#sessions) {
      if (track.bodyFrom !== undefined) {
        this.problem(
          track.bodyFrom,
          `${bodyOwner(label)} multi-line answer started here is never ended with \`S.\``,
        );
      }
    }
  }
}

export function sessionName(label: string): string {
  return label === "" ? "the session" : `session ${label}`;
}

function bodyOwner(label: string): string {
  return label === "" ? "the" : `session ${label}'s`;
}

export function bodyNotEnded(label: string, from: number): string {
  return `${bodyOwner(label)} multi-line answer started on line ${from} is not ended: add \`S${label}.\` (or \`S${label}. ...\`) first`;
}
