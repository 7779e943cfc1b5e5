import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from "node:tls";
import { LINE_TOO_LONG, LineReader, MultilineDecoder } from "pop3-core";
import {
  createServer,
  type MailStore,
  MemoryStore,
  type Pop3Server,
  type ServerOptions,
  staticUsers,
} from "../src/index";

export interface Certificate {
  readonly key: string;
  readonly cert: string;
}

const certificates = new Map<string, Certificate>();

/**
 * A self-signed certificate for `name` (made once per test run with the openssl CLI). Another
 * `variant` gives another certificate for the same name, with its own key.
 */
export function certificate(name = "localhost", variant = ""): Certificate {
  const cached = certificates.get(`${name}/${variant}`);
  if (cached !== undefined) return cached;
  const dir = mkdtempSync(join(tmpdir(), "pop3-cert-"));
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
      "-addext",
      `subjectAltName=DNS:${name},IP:127.0.0.1`,
    ],
    { stdio: "ignore" },
  );
  const made = {
    key: readFileSync(join(dir, "key.pem"), "utf8"),
    cert: readFileSync(join(dir, "cert.pem"), "utf8"),
  };
  certificates.set(`${name}/${variant}`, made);
  return made;
}

export interface TestServer<S extends MailStore = MemoryStore> {
  readonly server: Pop3Server;
  readonly store: S;
  readonly port: number;
  readonly tlsPort: number;
  close(): Promise<void>;
}

export const USERS = { alice: "wonderland", bob: "builder" };

/** Our server on 127.0.0.1 with a memory store, a plain+STLS and an implicit-TLS listener. */
export async function startServer<S extends MailStore = MemoryStore>(
  overrides: Partial<ServerOptions> = {},
  store: S = new MemoryStore() as unknown as S,
): Promise<TestServer<S>> {
  const server = createServer({
    store,
    auth: staticUsers(USERS),
    plain: { host: "127.0.0.1", port: 0 },
    implicitTls: { host: "127.0.0.1", port: 0 },
    tls: certificate(),
    allowCleartextAuth: true,
    hostname: "test.local",
    ...overrides,
    limits: { failedLoginDelayMs: 0, ...overrides.limits },
  });
  const addresses = await server.listen();
  return {
    server,
    store,
    port: addresses.plain?.port ?? 0,
    tlsPort: addresses.implicitTls?.port ?? 0,
    close: () => server.close(),
  };
}

/**
 * A bare-bones line client for server tests, reading with pop3-core's LineReader and
 * MultilineDecoder so the tests see exactly the bytes the server sent.
 */
export class RawClient {
  socket: Socket;
  #reader = new LineReader(1 << 20);
  #waiters: (() => void)[] = [];
  #ended = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.#listen(socket);
  }

  /**
   * A client over any duplex stream (an in-memory pair given to `server.serve`). RawClient's own
   * methods use only what a Duplex has; `socket` is then that stream, not a real socket.
   */
  static over(stream: Duplex): RawClient {
    return new RawClient(stream as Socket);
  }

  static async connect(
    port: number,
    options: { tls?: ConnectionOptions; localAddress?: string } = {},
  ): Promise<RawClient> {
    const socket =
      options.tls === undefined
        ? netConnect({
            port,
            host: "127.0.0.1",
            ...(options.localAddress ? { localAddress: options.localAddress } : {}),
          })
        : tlsConnect({
            port,
            host: "127.0.0.1",
            rejectUnauthorized: false,
            ...(options.localAddress ? { localAddress: options.localAddress } : {}),
            ...options.tls,
          });
    await new Promise<void>((resolve, reject) => {
      socket.once(options.tls === undefined ? "connect" : "secureConnect", resolve);
      socket.once("error", reject);
    });
    return new RawClient(socket);
  }

  #listen(socket: Socket): void {
    socket.on("data", (chunk: Buffer) => {
      this.#reader.push(new Uint8Array(chunk));
      this.#wake();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#wake();
    });
    socket.on("error", () => {});
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }

  #wait(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  get ended(): boolean {
    return this.#ended;
  }

  send(text: string | Uint8Array): void {
    this.socket.write(text);
  }

  /** The next line, without CRLF; `undefined` when the server closed the connection. */
  async line(timeoutMs = 10_000): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.#reader.readLine();
      if (line === LINE_TOO_LONG) throw new Error("line too long");
      if (line !== undefined) return Buffer.from(line).toString("latin1");
      if (this.#ended) return undefined;
      if (Date.now() > deadline) throw new Error("timed out waiting for a line");
      await Promise.race([this.#wait(), new Promise((r) => setTimeout(r, 50))]);
    }
  }

  /** Sends a command and returns the first line of the answer. */
  async command(line: string): Promise<string | undefined> {
    this.send(`${line}\r\n`);
    return this.line();
  }

  /** The unstuffed body of a multi-line answer whose first line was already read. */
  async body(): Promise<Buffer> {
    const decoder = new MultilineDecoder();
    const parts: Uint8Array[] = [];
    for (;;) {
      const pending = this.#reader.takeRest();
      if (pending.length > 0) {
        const result = decoder.push(pending);
        for (const piece of result.data) parts.push(piece.slice());
        this.#reader.push(result.rest);
        if (result.done) return Buffer.concat(parts);
        continue;
      }
      if (this.#ended) throw new Error("connection closed inside a multi-line answer");
      await Promise.race([this.#wait(), new Promise((r) => setTimeout(r, 50))]);
    }
  }

  /** The body lines of a multi-line answer whose first line was already read. */
  async lines(): Promise<string[]> {
    const text = (await this.body()).toString("latin1");
    return text === "" ? [] : text.replace(/\r\n$/, "").split("\r\n");
  }

  /** Upgrades to TLS in place after `+OK` to STLS. */
  async startTls(options: ConnectionOptions = {}): Promise<void> {
    const raw = this.socket;
    raw.removeAllListeners("data");
    raw.removeAllListeners("close");
    const secure = tlsConnect({
      socket: raw,
      rejectUnauthorized: false,
      servername: "localhost",
      ...options,
    });
    await new Promise<void>((resolve, reject) => {
      secure.once("secureConnect", resolve);
      secure.once("error", reject);
    });
    this.socket = secure;
    this.#listen(secure);
  }

  get tlsSocket(): TLSSocket | undefined {
    return "encrypted" in this.socket ? (this.socket as TLSSocket) : undefined;
  }

  async login(user = "alice", password = USERS.alice): Promise<void> {
    await this.line();
    const userReply = await this.command(`USER ${user}`);
    const passReply = await this.command(`PASS ${password}`);
    if (!userReply?.startsWith("+OK") || !passReply?.startsWith("+OK")) {
      throw new Error(`login failed: ${userReply} / ${passReply}`);
    }
  }

  close(): void {
    this.socket.destroy();
  }

  async closed(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#ended) {
      if (Date.now() > deadline) throw new Error("connection did not close");
      await Promise.race([this.#wait(), new Promise((r) => setTimeout(r, 50))]);
    }
  }
}

/** The message set every test uses: the edge cases of RFC 1939 framing. */
export const EDGE_MESSAGES: Record<string, Uint8Array> = {
  dotLines: Buffer.from("Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n"),
  loneDot: Buffer.from("Subject: lone\r\n\r\n.\r\n"),
  bareLf: Buffer.from("Subject: lf\n\nline one\nline two\n.dot after lf\n"),
  noFinalNewline: Buffer.from("Subject: nofinal\r\n\r\nno newline at the end"),
  binary: Buffer.concat([
    Buffer.from("Subject: 8bit\r\n\r\n"),
    Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80, 0x0d, 0x0a, 0xc3, 0xa9, 0x0d, 0x0a]),
  ]),
  empty: new Uint8Array(0),
};

/** What a conforming client receives for `message`: CRLF line ends and a final CRLF. */
export function wireForm(message: Uint8Array): Buffer {
  const out: number[] = [];
  for (let i = 0; i < message.length; i++) {
    const b = message[i] as number;
    if (b === 0x0d) {
      out.push(0x0d, 0x0a);
      if (message[i + 1] === 0x0a) i++;
    } else if (b === 0x0a) out.push(0x0d, 0x0a);
    else out.push(b);
  }
  if (out.length > 0 && !(out.at(-2) === 0x0d && out.at(-1) === 0x0a)) out.push(0x0d, 0x0a);
  return Buffer.from(out);
}
