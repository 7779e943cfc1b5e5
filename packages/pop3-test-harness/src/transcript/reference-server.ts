import {
  type Capability,
  NEED_DATA,
  PAUSED,
  type Pop3Command,
  rfcOctetSize,
  type ServerEvent,
  ServerSession,
  type SessionState,
  type StatusReply,
  serializeCapabilities,
  serializeDropListing,
  serializeScanListing,
  serializeUidListing,
  TopFilter,
} from "pop3-core";
import { concat, encodeUtf8 } from "./text";
import type { Transcript } from "./types";

export interface ReferenceMessage {
  readonly uid: string;
  readonly size: number;
  readonly bytes: Uint8Array;
}

export interface ReferenceServerOptions {
  readonly users?: Readonly<Record<string, string>>;
  readonly messages?: readonly {
    readonly user: string;
    readonly bytes: Uint8Array | string;
    readonly uid?: string;
  }[];
  /** Offer STLS on connections that are not under TLS. Default true. */
  readonly stls?: boolean;
  /** Greeting text. Default `POP3 reference server ready`. */
  readonly greeting?: string;
}

/** How a reference connection hands its output to the transport. */
export interface ReferenceConnectionHandlers {
  /** Bytes for the client, in order. */
  send(bytes: Uint8Array): void;
  /** The server hangs up (after QUIT), after the last `send`. */
  close(): void;
}

/** One connection to the reference server. */
export interface ReferenceConnection {
  /** Bytes from the client. */
  receive(bytes: Uint8Array): void;
  /** The (simulated) TLS handshake after `+OK` to STLS is done. */
  tlsEstablished(): void;
  /** The client went away: the maildrop is released, nothing is deleted. */
  disconnect(): void;
  readonly state: SessionState;
}

interface UserState {
  readonly password: string;
  messages: ReferenceMessage[];
  locked: boolean;
}

const NO_SUCH_MESSAGE: StatusReply = { ok: false, text: "no such message" };

/**
 * A small RFC 1939 server over pop3-core's `ServerSession`, with users and maildrops in memory:
 * USER/PASS, STAT, LIST, UIDL, RETR, TOP, DELE, RSET, NOOP, QUIT, CAPA and STLS (the handshake
 * is simulated by the transport). Maildrops are locked while a session is in TRANSACTION
 * (`-ERR [IN-USE]`), message numbers are fixed at login, and deletions happen only at QUIT
 * (UPDATE). Its answers follow pop3-server's wording, so transcripts mostly read the same against
 * both. It is the in-memory transport's server; nothing here touches a socket.
 */
export class ReferenceServer {
  readonly #users: Users = new Map();
  readonly #stls: boolean;
  readonly #greeting: string;
  #uidCounter = 0;

  constructor(options: ReferenceServerOptions = {}) {
    this.#stls = options.stls ?? true;
    this.#greeting = options.greeting ?? "POP3 reference server ready";
    for (const [user, password] of Object.entries(options.users ?? {})) {
      this.addUser(user, password);
    }
    for (const message of options.messages ?? []) {
      this.addMessage(message.user, message.bytes, message.uid);
    }
  }

  /** A server with the transcript's `user` and `message` lines. */
  static fromTranscript(
    transcript: Transcript,
    options: Omit<ReferenceServerOptions, "users" | "messages"> = {},
  ): ReferenceServer {
    return new ReferenceServer({
      ...options,
      users: Object.fromEntries(transcript.users.map((u) => [u.name, u.password])),
      messages: transcript.messages,
    });
  }

  addUser(user: string, password: string): void {
    if (this.#users.has(user)) throw new Error(`user ${user} exists`);
    this.#users.set(user, { password, messages: [], locked: false });
  }

  /** Appends a message; without `uid` one is generated (`msg-1`, `msg-2`, ...). */
  addMessage(user: string, message: Uint8Array | string, uid?: string): ReferenceMessage {
    const state = this.#users.get(user);
    if (state === undefined) throw new Error(`unknown user ${user}`);
    const bytes = typeof message === "string" ? encodeUtf8(message) : message.slice();
    const taken = new Set([...this.#users.values()].flatMap((u) => u.messages.map((m) => m.uid)));
    if (uid !== undefined && taken.has(uid)) throw new Error(`uid ${uid} is already used`);
    let id = uid;
    while (id === undefined || (uid === undefined && taken.has(id))) {
      this.#uidCounter += 1;
      id = `msg-${this.#uidCounter}`;
    }
    const stored: ReferenceMessage = { uid: id, size: rfcOctetSize(bytes), bytes };
    state.messages.push(stored);
    return stored;
  }

  /** The user's maildrop now (after committed deletions). */
  messages(user: string): readonly ReferenceMessage[] {
    return this.#users.get(user)?.messages ?? [];
  }

  /** Whether a session holds the user's maildrop. */
  isLocked(user: string): boolean {
    return this.#users.get(user)?.locked ?? false;
  }

  /** Accepts a connection: the greeting goes to `handlers.send` at once. */
  accept(
    handlers: ReferenceConnectionHandlers,
    options: { readonly tls?: boolean } = {},
  ): ReferenceConnection {
    return new Connection(
      { users: this.#users, stls: this.#stls, greeting: this.#greeting },
      handlers,
      options.tls ?? false,
    );
  }
}

type Users = Map<string, UserState>;

interface ServerConfig {
  readonly users: Users;
  readonly stls: boolean;
  readonly greeting: string;
}

/** A logged-in session's view: the snapshot taken at login and the messages marked deleted. */
interface Maildrop {
  readonly user: string;
  readonly state: UserState;
  readonly snapshot: readonly ReferenceMessage[];
  readonly deleted: Set<number>;
}

class Connection implements ReferenceConnection {
  readonly #server: ServerConfig;
  readonly #handlers: ReferenceConnectionHandlers;
  readonly #session: ServerSession;
  #pendingUser: string | undefined;
  #maildrop: Maildrop | undefined;
  #closed = false;

  constructor(server: ServerConfig, handlers: ReferenceConnectionHandlers, tls: boolean) {
    this.#server = server;
    this.#handlers = handlers;
    this.#session = new ServerSession({ tls });
    handlers.send(this.#session.greet({ ok: true, text: server.greeting }));
  }

  get state(): SessionState {
    return this.#session.state;
  }

  receive(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.#session.receiveData(bytes);
    this.#pump();
  }

  tlsEstablished(): void {
    this.#session.tlsEstablished();
    this.#pump();
  }

  disconnect(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#session.close();
    this.#release();
  }

  /** Answers every complete command, strictly in order, in one write. */
  #pump(): void {
    const out: Uint8Array[] = [];
    let hangUp = false;
    for (
      let event = this.#session.nextEvent();
      event !== NEED_DATA && event !== PAUSED;
      event = this.#session.nextEvent()
    ) {
      hangUp = this.#answer(event, out);
      if (hangUp) break;
    }
    if (out.length > 0) this.#handlers.send(concat(out));
    if (hangUp) {
      this.#closed = true;
      this.#session.close();
      this.#handlers.close();
    }
  }

  /** Appends the answer to `event`; true when the server hangs up after it. */
  #answer(event: ServerEvent, out: Uint8Array[]): boolean {
    const session = this.#session;
    if (event.type !== "command") {
      // `rejected` (bad syntax, wrong state): core's -ERR. SASL never starts (AUTH is refused).
      if ("reply" in event) out.push(session.sendReply(event.reply));
      return false;
    }
    const { command } = event;
    if (command.name === "CAPA") {
      out.push(
        session.sendLines(
          { ok: true, text: "capability list follows" },
          serializeCapabilities(this.#capabilities()),
        ),
      );
      return false;
    }
    if (command.name === "QUIT") {
      out.push(session.sendReply(this.#update()));
      return true;
    }
    const maildrop = this.#maildrop;
    out.push(
      maildrop === undefined ? this.#authorization(command) : this.#transaction(command, maildrop),
    );
    return false;
  }

  #authorization(command: Pop3Command): Uint8Array {
    const session = this.#session;
    switch (command.name) {
      case "USER":
        this.#pendingUser = command.user;
        return session.sendReply({ ok: true, text: "send PASS" });
      case "PASS": {
        const user = this.#pendingUser as string;
        this.#pendingUser = undefined;
        const state = this.#server.users.get(user);
        if (state === undefined || state.password !== command.password.reveal()) {
          return session.sendReply({ ok: false, code: "AUTH", text: "authentication failed" });
        }
        if (state.locked) {
          return session.sendReply({
            ok: false,
            code: "IN-USE",
            text: "maildrop already locked by another session",
          });
        }
        state.locked = true;
        this.#maildrop = { user, state, snapshot: state.messages.slice(), deleted: new Set() };
        const { count, size } = stat(this.#maildrop);
        return session.sendReply({
          ok: true,
          text: `${user} has ${count} messages (${size} octets)`,
        });
      }
      case "STLS":
        return session.sendReply(
          this.#server.stls
            ? { ok: true, text: "begin TLS negotiation" }
            : { ok: false, text: "STLS not available" },
        );
      default:
        return session.sendReply({ ok: false, text: "unknown command" });
    }
  }

  #transaction(command: Pop3Command, maildrop: Maildrop): Uint8Array {
    const session = this.#session;
    switch (command.name) {
      case "STAT":
        return session.sendReply({ ok: true, text: serializeDropListing(stat(maildrop)) });
      case "LIST":
      case "UIDL": {
        const line =
          command.name === "LIST"
            ? (msg: number, m: ReferenceMessage) => serializeScanListing({ msg, size: m.size })
            : (msg: number, m: ReferenceMessage) => serializeUidListing({ msg, uid: m.uid });
        if (command.msg !== undefined) {
          const message = visible(maildrop, command.msg);
          return session.sendReply(
            message === undefined
              ? NO_SUCH_MESSAGE
              : { ok: true, text: line(command.msg, message) },
          );
        }
        const lines: string[] = [];
        maildrop.snapshot.forEach((m, i) => {
          if (!maildrop.deleted.has(i + 1)) lines.push(line(i + 1, m));
        });
        const { count, size } = stat(maildrop);
        const text =
          command.name === "LIST"
            ? `${count} messages (${size} octets)`
            : "unique-id listing follows";
        return session.sendLines({ ok: true, text }, lines);
      }
      case "RETR":
      case "TOP": {
        const message = visible(maildrop, command.msg);
        if (message === undefined) return session.sendReply(NO_SUCH_MESSAGE);
        const content =
          command.name === "TOP" ? new TopFilter(command.lines).push(message.bytes) : message.bytes;
        const text = command.name === "TOP" ? "top of message follows" : `${message.size} octets`;
        return concat([
          session.sendMultilineStart({ ok: true, text }),
          session.sendMultilineData(content),
          session.sendMultilineEnd(),
        ]);
      }
      case "DELE":
        if (visible(maildrop, command.msg) === undefined) return session.sendReply(NO_SUCH_MESSAGE);
        maildrop.deleted.add(command.msg);
        return session.sendReply({ ok: true, text: `message ${command.msg} deleted` });
      case "RSET": {
        maildrop.deleted.clear();
        const { count, size } = stat(maildrop);
        return session.sendReply({
          ok: true,
          text: `maildrop has ${count} messages (${size} octets)`,
        });
      }
      case "NOOP":
        return session.sendReply({ ok: true, text: "" });
      default:
        return session.sendReply({ ok: false, text: "unknown command" });
    }
  }

  /** QUIT: in TRANSACTION, the UPDATE state removes the deleted messages, then the lock goes. */
  #update(): StatusReply {
    const maildrop = this.#maildrop;
    if (maildrop === undefined) return { ok: true, text: "bye" };
    const doomed = new Set([...maildrop.deleted].map((msg) => maildrop.snapshot[msg - 1]));
    maildrop.state.messages = maildrop.state.messages.filter((m) => !doomed.has(m));
    const left = stat(maildrop).count;
    this.#release();
    return { ok: true, text: `bye, ${doomed.size} deleted, ${left} left` };
  }

  #release(): void {
    if (this.#maildrop !== undefined) this.#maildrop.state.locked = false;
    this.#maildrop = undefined;
  }

  #capabilities(): Capability[] {
    const caps: Capability[] = [
      { name: "TOP" },
      { name: "UIDL" },
      { name: "USER" },
      { name: "RESP-CODES" },
      { name: "PIPELINING" },
    ];
    if (this.#server.stls && !this.#session.tls) caps.push({ name: "STLS" });
    return caps;
  }
}

function visible(maildrop: Maildrop, msg: number): ReferenceMessage | undefined {
  return maildrop.deleted.has(msg) ? undefined : maildrop.snapshot[msg - 1];
}

function stat(maildrop: Maildrop): { count: number; size: number } {
  let count = 0;
  let size = 0;
  maildrop.snapshot.forEach((m, i) => {
    if (maildrop.deleted.has(i + 1)) return;
    count += 1;
    size += m.size;
  });
  return { count, size };
}
