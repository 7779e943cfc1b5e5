import { createServer, type Server, type Socket } from "node:net";
import { TLSSocket } from "node:tls";
import {
  apopDigest,
  decodeBase64Strict,
  LINE_TOO_LONG,
  LineReader,
  type Pop3Command,
  parseCommand,
} from "pop3-core";
import { generateCertificate, type TestCertificate } from "../../src/index";

/**
 * A small hand-written POP3 server for the conformance suite's own tests. Without faults it is
 * correct enough to pass every check; each fault switches one behaviour to a known bug, so a test
 * can show that the check watching for that bug fails. It writes every reply by hand (no
 * pop3-core encoder), so it can get them wrong on purpose.
 */
export interface Faults {
  /** The greeting is `-ERR` (the server carries on anyway). */
  greetingErr?: boolean;
  /** The greeting is 600 octets long. */
  longGreeting?: boolean;
  /** An unknown command closes the connection. */
  disconnectOnUnknown?: boolean;
  /** A malformed command is answered +OK. */
  lenientSyntax?: boolean;
  /** STAT, LIST, ... before login get +OK. */
  transactionBeforeLogin?: boolean;
  /** USER after login gets +OK. */
  userAfterLogin?: boolean;
  /** Lower-case keywords are unknown. */
  caseSensitive?: boolean;
  /** Command lines over 128 octets are refused. */
  shortLines?: boolean;
  /** PASS without USER logs the last user in. */
  passWithoutUser?: boolean;
  /** QUIT before login answers +OK and leaves the connection open. */
  quitKeepsOpen?: boolean;
  /** The APOP timestamp is the same on every connection. */
  fixedTimestamp?: boolean;
  /** APOP digests are compared against the wrong string. */
  apopBroken?: boolean;
  /** No maildrop lock. */
  noLock?: boolean;
  /** A locked maildrop is refused without [IN-USE]. */
  lockWithoutCode?: boolean;
  /** One lock for all users. */
  globalLock?: boolean;
  /** LIST on an empty maildrop is -ERR. */
  emptyListErr?: boolean;
  /** STAT reports one octet more than LIST. */
  statWrongSize?: boolean;
  /** LIST n past the end answers +OK. */
  pastEndOk?: boolean;
  /** Sizes count bare LF line ends. */
  sizesWithLf?: boolean;
  /** RETR and TOP do not byte-stuff. */
  noDotStuffing?: boolean;
  /** TOP n 0 leaves out the blank line. */
  topZeroWithoutBlank?: boolean;
  /** TOP sends at most 5 body lines. */
  topTruncates?: boolean;
  /** Unique-ids are 71 characters long. */
  longUids?: boolean;
  /** Unique-ids change with every session. */
  unstableUidl?: boolean;
  /** Messages are renumbered after DELE. */
  renumberAfterDele?: boolean;
  /** A deleted message can still be read, listed and counted. */
  deletedVisible?: boolean;
  /** RSET does not unmark. */
  rsetNoop?: boolean;
  /** A dropped connection commits its deletions. */
  deleteOnDrop?: boolean;
  /** QUIT does not remove the deleted messages. */
  quitNoUpdate?: boolean;
  /** CAPA after login is -ERR. */
  capaRefusedAfterLogin?: boolean;
  /** USER and SASL are not listed after login. */
  capaDropsAfterLogin?: boolean;
  /** TOP and UIDL are listed only after login. */
  topOnlyAfterLogin?: boolean;
  /** Only the first command of each read is answered; the rest are dropped. */
  pipelineFirstOnly?: boolean;
  /** STLS is still listed after the TLS handshake. */
  stlsListedAfterTls?: boolean;
  /** Bytes pipelined after STLS are executed after the handshake (CVE-2011-0411). */
  executeAfterStls?: boolean;
  /** Bytes pipelined after STLS are answered in plaintext before the handshake. */
  plaintextAfterStls?: boolean;
  /** `*` in an AUTH exchange gets another challenge. */
  cancelIgnored?: boolean;
  /** A SASL response that is not base64 gets another challenge. */
  lenientBase64?: boolean;
  /** `AUTH PLAIN =` is taken as no initial response. */
  emptyIrAsNone?: boolean;
  /** AUTH after login starts another exchange. */
  reauth?: boolean;
  /** Wrong credentials are refused without [AUTH]. */
  noAuthCode?: boolean;
  /** UTF8 is refused although advertised. */
  utf8Refused?: boolean;
  /** UTF8 is accepted after login. */
  utf8Anywhere?: boolean;
  /** LANG lists no language. */
  langEmpty?: boolean;
  /** -ERR is sent as `-err`. */
  lowercaseErr?: boolean;
  /** -ERR to unknown commands is 600 octets long. */
  longErr?: boolean;
  /** -ERR to unknown commands starts with a "[" that is not a response code. */
  bracketText?: boolean;
  /** LOGIN-DELAY is advertised with a malformed argument. */
  badCapaArgument?: boolean;
}

interface StoredMessage {
  readonly bytes: Uint8Array;
  readonly uid: string;
}

export interface BrokenServer extends AsyncDisposable {
  readonly port: number;
  readonly certificate: TestCertificate;
  addMessage(user: string, bytes: Uint8Array): void;
  messages(user: string): readonly StoredMessage[];
  close(): Promise<void>;
}

const latin1 = new TextDecoder("latin1");

function bytesOf(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
}

export async function createBrokenServer(
  users: Readonly<Record<string, string>>,
  faults: Faults = {},
): Promise<BrokenServer> {
  const certificate = await generateCertificate();
  const store = new Map<string, StoredMessage[]>();
  const locks = new Set<string>();
  const sockets = new Set<Socket>();
  let nextUid = 1;
  let connections = 0;

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    new Session(socket, ++connections).start();
  });

  class Session {
    #socket: Socket;
    #reader = new LineReader(faults.shortLines ? 128 : 1024);
    #state: "auth" | "trans" | "closed" = "auth";
    #tls = false;
    #pendingUser: string | undefined;
    #lastUser: string | undefined;
    #user: string | undefined;
    #snapshot: StoredMessage[] = [];
    #deleted = new Set<number>();
    #sasl = false;
    #timestamp: string;
    #id: number;
    #handshaking = false;

    constructor(socket: Socket, id: number) {
      this.#socket = socket;
      this.#id = id;
      this.#timestamp = faults.fixedTimestamp ? "<1.1@broken>" : `<${id}.${Date.now()}@broken>`;
    }

    start(): void {
      this.#listen(this.#socket);
      const text = faults.longGreeting ? `ready ${"x".repeat(600)}` : "broken test server ready";
      this.#write(`${faults.greetingErr ? "-ERR" : "+OK"} ${text} ${this.#timestamp}\r\n`);
    }

    #listen(socket: Socket): void {
      socket.on("data", (chunk: Buffer) => {
        this.#reader.push(new Uint8Array(chunk));
        this.#pump();
      });
      socket.on("close", () => this.#closed());
      socket.on("error", () => {});
    }

    #pump(): void {
      while (!this.#handshaking && this.#state !== "closed") {
        const line = this.#reader.readLine();
        if (line === undefined) return;
        if (line === LINE_TOO_LONG) {
          this.#err("line too long");
          continue;
        }
        this.#line(latin1.decode(line));
        if (faults.pipelineFirstOnly) this.#reader.takeRest();
      }
    }

    #write(text: string): void {
      if (!this.#socket.destroyed) this.#socket.write(bytesOf(text));
    }

    #ok(text = ""): void {
      this.#write(`+OK${text === "" ? "" : ` ${text}`}\r\n`);
    }

    #err(text: string, code?: string): void {
      const indicator = faults.lowercaseErr ? "-err" : "-ERR";
      this.#write(`${indicator}${code === undefined ? "" : ` [${code}]`} ${text}\r\n`);
    }

    #multi(text: string, lines: readonly string[]): void {
      const body = lines.map((l) => `${l.startsWith(".") ? `.${l}` : l}\r\n`).join("");
      this.#write(`+OK ${text}\r\n${body}.\r\n`);
    }

    /** A message (CRLF text) as a multi-line answer, stuffed unless the fault says otherwise. */
    #message(text: string, message: string): void {
      const lines = message.endsWith("\r\n")
        ? message.slice(0, -2).split("\r\n")
        : message.split("\r\n");
      const stuff = (l: string) => (!faults.noDotStuffing && l.startsWith(".") ? `.${l}` : l);
      this.#write(`+OK ${text}\r\n${lines.map((l) => `${stuff(l)}\r\n`).join("")}.\r\n`);
    }

    #line(text: string): void {
      if (this.#sasl) {
        this.#saslResponse(text);
        return;
      }
      const keyword = text.split(" ")[0] ?? "";
      if (faults.caseSensitive && keyword !== keyword.toUpperCase()) {
        this.#err("unknown command");
        return;
      }
      let command: Pop3Command;
      try {
        command = parseCommand(text);
      } catch {
        if (faults.lenientSyntax) this.#ok();
        else this.#err("syntax error");
        return;
      }
      if (this.#state === "auth") this.#authorization(command);
      else this.#transaction(command);
    }

    #capabilities(): string[] {
      const loggedIn = this.#state === "trans";
      const caps: string[] = [];
      if (!faults.topOnlyAfterLogin || loggedIn) caps.push("TOP", "UIDL");
      if (!(faults.capaDropsAfterLogin && loggedIn)) caps.push("USER", "SASL PLAIN");
      caps.push("RESP-CODES", "AUTH-RESP-CODE", "PIPELINING");
      caps.push(faults.badCapaArgument ? "LOGIN-DELAY soon" : "LOGIN-DELAY 0");
      if (!this.#tls || faults.stlsListedAfterTls) caps.push("STLS");
      caps.push("UTF8", "LANG");
      return caps;
    }

    #authorization(command: Pop3Command): void {
      switch (command.name) {
        case "CAPA":
          this.#multi("capabilities", this.#capabilities());
          return;
        case "USER":
          this.#pendingUser = command.user;
          this.#lastUser = command.user;
          this.#ok("send PASS");
          return;
        case "PASS": {
          const user =
            this.#pendingUser ?? (faults.passWithoutUser ? (this.#lastUser ?? "alice") : undefined);
          this.#pendingUser = undefined;
          if (user === undefined) {
            this.#err("USER first");
            return;
          }
          this.#login(user, users[user] === command.password.reveal());
          return;
        }
        case "APOP": {
          const secret = users[command.user];
          const stamp = faults.apopBroken ? "<nothing@broken>" : this.#timestamp;
          this.#login(
            command.user,
            secret !== undefined && apopDigest(stamp, secret) === command.digest,
          );
          return;
        }
        case "AUTH":
          this.#auth(command);
          return;
        case "STLS":
          this.#stls();
          return;
        case "UTF8":
          if (faults.utf8Refused) this.#err("no");
          else this.#ok("UTF8 enabled");
          return;
        case "LANG":
          this.#lang(command.tag);
          return;
        case "QUIT":
          this.#ok("bye");
          if (!faults.quitKeepsOpen) this.#end();
          return;
        case "UNKNOWN":
          this.#unknown();
          return;
        default:
          if (faults.transactionBeforeLogin) this.#ok("0 0");
          else this.#err(`${command.name} is not valid before login`);
      }
    }

    #unknown(): void {
      if (faults.disconnectOnUnknown) {
        this.#end();
        return;
      }
      if (faults.bracketText) this.#err("[unknown command");
      else this.#err(faults.longErr ? `unknown command ${"x".repeat(600)}` : "unknown command");
    }

    #lang(tag: string | undefined): void {
      if (tag !== undefined) this.#ok(`${tag} selected`);
      else this.#multi("languages", faults.langEmpty ? [] : ["en English"]);
    }

    #auth(command: Extract<Pop3Command, { name: "AUTH" }>): void {
      if (command.mechanism === undefined) {
        this.#multi("mechanisms", ["PLAIN"]);
        return;
      }
      if (command.mechanism !== "PLAIN") {
        this.#err("unsupported mechanism");
        return;
      }
      const initial = command.initialResponse?.reveal();
      if (initial === undefined || (initial === "" && faults.emptyIrAsNone)) {
        this.#sasl = true;
        this.#write("+ \r\n");
        return;
      }
      this.#plain(initial);
    }

    #saslResponse(text: string): void {
      if (text === "*") {
        if (faults.cancelIgnored) {
          this.#write("+ \r\n");
          return;
        }
        this.#sasl = false;
        this.#err("authentication cancelled");
        return;
      }
      this.#sasl = false;
      this.#plain(text);
    }

    #plain(base64: string): void {
      let decoded: Uint8Array;
      try {
        decoded = decodeBase64Strict(base64);
      } catch {
        if (faults.lenientBase64) {
          this.#sasl = true;
          this.#write("+ \r\n");
        } else {
          this.#err("invalid base64");
        }
        return;
      }
      const [, user = "", password = ""] = new TextDecoder().decode(decoded).split("\0");
      this.#login(user, user !== "" && users[user] === password);
    }

    #login(user: string, ok: boolean): void {
      if (!ok) {
        if (faults.noAuthCode) this.#err("authentication failed");
        else this.#err("authentication failed", "AUTH");
        return;
      }
      const locked = faults.globalLock ? locks.size > 0 : locks.has(user);
      if (locked && !faults.noLock) {
        if (faults.lockWithoutCode) this.#err("maildrop locked");
        else this.#err("maildrop locked", "IN-USE");
        return;
      }
      locks.add(user);
      this.#user = user;
      this.#state = "trans";
      this.#snapshot = [...(store.get(user) ?? [])];
      this.#deleted.clear();
      this.#ok(`${user} logged in`);
    }

    #stls(): void {
      if (this.#tls) {
        this.#err("TLS already active");
        return;
      }
      this.#ok("begin TLS");
      if (faults.plaintextAfterStls) {
        // Answers whatever was pipelined, in plaintext, then starts TLS.
        const state = this.#state;
        for (
          let line = this.#reader.readLine();
          line !== undefined;
          line = this.#reader.readLine()
        ) {
          if (line !== LINE_TOO_LONG) this.#line(latin1.decode(line));
        }
        this.#state = state;
      } else if (!faults.executeAfterStls) {
        this.#reader.takeRest();
      }
      this.#handshaking = true;
      const raw = this.#socket;
      raw.removeAllListeners("data");
      raw.removeAllListeners("close");
      const secure = new TLSSocket(raw, {
        isServer: true,
        key: certificate.key,
        cert: certificate.cert,
      });
      secure.once("secure", () => {
        this.#tls = true;
        this.#handshaking = false;
        this.#socket = secure;
        this.#listen(secure);
        this.#pump();
      });
      secure.on("error", () => secure.destroy());
      secure.once("close", () => this.#closed());
    }

    /** Message number → index in the snapshot, or undefined when there is no such message. */
    #index(msg: number): number | undefined {
      if (faults.renumberAfterDele) {
        const visible = this.#snapshot.map((_, i) => i).filter((i) => !this.#deleted.has(i));
        return visible[msg - 1];
      }
      const index = msg - 1;
      if (index < 0 || index >= this.#snapshot.length) return undefined;
      if (this.#deleted.has(index) && !faults.deletedVisible) return undefined;
      return index;
    }

    #visible(): number[] {
      return this.#snapshot
        .map((_, i) => i)
        .filter((i) => faults.deletedVisible || !this.#deleted.has(i));
    }

    #size(index: number): number {
      const bytes = (this.#snapshot[index] as StoredMessage).bytes;
      if (!faults.sizesWithLf) return bytes.length;
      return bytes.length - latin1.decode(bytes).split("\r\n").length + 1;
    }

    #uid(index: number): string {
      if (faults.longUids) return `${"u".repeat(68)}${String(index).padStart(3, "0")}`;
      const uid = (this.#snapshot[index] as StoredMessage).uid;
      return faults.unstableUidl ? `${uid}-${this.#id}` : uid;
    }

    #number(index: number): number {
      return faults.renumberAfterDele ? this.#visible().indexOf(index) + 1 : index + 1;
    }

    #transaction(command: Pop3Command): void {
      switch (command.name) {
        case "STAT": {
          const visible = this.#visible();
          const size = visible.reduce((sum, i) => sum + this.#size(i), 0);
          this.#ok(`${visible.length} ${size + (faults.statWrongSize ? 1 : 0)}`);
          return;
        }
        case "LIST": {
          if (command.msg === undefined) {
            const visible = this.#visible();
            if (visible.length === 0 && faults.emptyListErr) {
              this.#err("no messages");
              return;
            }
            this.#multi(
              `${visible.length} messages`,
              visible.map((i) => `${this.#number(i)} ${this.#size(i)}`),
            );
            return;
          }
          const index = this.#index(command.msg);
          if (index === undefined) {
            if (faults.pastEndOk) this.#ok(`${command.msg} 0`);
            else this.#err("no such message");
            return;
          }
          this.#ok(`${command.msg} ${this.#size(index)}`);
          return;
        }
        case "UIDL": {
          if (command.msg === undefined) {
            this.#multi(
              "unique-ids",
              this.#visible().map((i) => `${this.#number(i)} ${this.#uid(i)}`),
            );
            return;
          }
          const index = this.#index(command.msg);
          if (index === undefined) this.#err("no such message");
          else this.#ok(`${command.msg} ${this.#uid(index)}`);
          return;
        }
        case "RETR": {
          const index = this.#index(command.msg);
          if (index === undefined) {
            this.#err("no such message");
            return;
          }
          const bytes = (this.#snapshot[index] as StoredMessage).bytes;
          this.#message(`${this.#size(index)} octets`, latin1.decode(bytes));
          return;
        }
        case "TOP": {
          const index = this.#index(command.msg);
          if (index === undefined) {
            this.#err("no such message");
            return;
          }
          const text = latin1.decode((this.#snapshot[index] as StoredMessage).bytes);
          const split = text.indexOf("\r\n\r\n");
          const head = split === -1 ? text : text.slice(0, split + 2);
          const bodyLines =
            split === -1
              ? []
              : text
                  .slice(split + 4)
                  .split("\r\n")
                  .slice(0, -1);
          const wanted = faults.topTruncates ? Math.min(command.lines, 5) : command.lines;
          const blank = command.lines === 0 && faults.topZeroWithoutBlank ? "" : "\r\n";
          const body = bodyLines
            .slice(0, wanted)
            .map((l) => `${l}\r\n`)
            .join("");
          this.#message("top of message", `${head}${blank}${body}`);
          return;
        }
        case "DELE": {
          const index = this.#index(command.msg);
          if (index === undefined || (this.#deleted.has(index) && !faults.deletedVisible)) {
            this.#err("no such message");
            return;
          }
          if (this.#deleted.has(index)) {
            this.#err("already deleted");
            return;
          }
          this.#deleted.add(index);
          this.#ok(`message ${command.msg} deleted`);
          return;
        }
        case "RSET":
          if (!faults.rsetNoop) this.#deleted.clear();
          this.#ok();
          return;
        case "NOOP":
          this.#ok();
          return;
        case "CAPA":
          if (faults.capaRefusedAfterLogin) this.#err("no CAPA here");
          else this.#multi("capabilities", this.#capabilities());
          return;
        case "LANG":
          this.#lang(command.tag);
          return;
        case "USER":
          if (faults.userAfterLogin) this.#ok();
          else this.#err("already logged in");
          return;
        case "AUTH":
          if (faults.reauth && command.mechanism !== undefined) {
            this.#sasl = true;
            this.#write("+ \r\n");
          } else {
            this.#err("already logged in");
          }
          return;
        case "UTF8":
          if (faults.utf8Anywhere) this.#ok();
          else this.#err("UTF8 is only valid before login");
          return;
        case "QUIT": {
          if (!faults.quitNoUpdate) this.#commit();
          this.#release();
          this.#ok("bye");
          this.#end();
          return;
        }
        case "UNKNOWN":
          this.#unknown();
          return;
        default:
          this.#err("not valid after login");
      }
    }

    #commit(): void {
      const user = this.#user as string;
      const deleted = new Set([...this.#deleted].map((i) => this.#snapshot[i]));
      store.set(
        user,
        (store.get(user) ?? []).filter((m) => !deleted.has(m)),
      );
      this.#deleted.clear();
    }

    #release(): void {
      if (this.#user !== undefined) locks.delete(this.#user);
      this.#user = undefined;
    }

    #end(): void {
      this.#state = "closed";
      this.#socket.end();
    }

    #closed(): void {
      if (this.#state === "trans" && faults.deleteOnDrop) this.#commit();
      this.#release();
      this.#state = "closed";
    }
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  const close = async (): Promise<void> => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    port,
    certificate,
    addMessage(user, bytes) {
      const list = store.get(user) ?? [];
      list.push({ bytes: bytes.slice(), uid: `uid-${nextUid++}` });
      store.set(user, list);
    },
    messages: (user) => store.get(user) ?? [],
    close,
    [Symbol.asyncDispose]: close,
  };
}
