import { connect as netConnect, type Socket } from "node:net";
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from "node:tls";
import {
  type Capabilities,
  type ClientEvent,
  ClientSession,
  type Greeting,
  NEED_DATA,
  type Pop3Command,
  parseCapabilities,
  type StatusReply,
} from "pop3-core";

/**
 * A probe failure, with the same codes pop3-client uses (POP3_CONNECTION, POP3_TLS,
 * POP3_TIMEOUT, POP3_CLOSED), so `doctor --json` reports what every other command reports.
 */
export class ProbeError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ProbeError";
    this.code = code;
  }
}

/**
 * A short diagnostic connection driven by pop3-core's ClientSession (which does all the framing):
 * greeting, CAPA, STLS and the TLS handshake on a socket we hold, so that the TLS details
 * (protocol, cipher, certificate) can be read. It never logs in.
 */
export interface ProbeTarget {
  readonly host: string;
  readonly port: number;
  readonly implicitTls: boolean;
  readonly tls: ConnectionOptions;
  readonly timeoutMs: number;
  readonly trace?: (direction: "send" | "receive", line: string) => void;
}

export class ProbeConnection {
  readonly #session: ClientSession;
  #socket: Socket | TLSSocket;
  #events: ClientEvent[] = [];
  #waiter: (() => void) | undefined;
  #failure: Error | undefined;
  readonly #target: ProbeTarget;

  private constructor(socket: Socket | TLSSocket, target: ProbeTarget) {
    this.#socket = socket;
    this.#target = target;
    this.#session = new ClientSession({ tls: target.implicitTls });
    this.#attach(socket);
  }

  get socket(): Socket | TLSSocket {
    return this.#socket;
  }

  static async open(target: ProbeTarget): Promise<ProbeConnection> {
    const socket = target.implicitTls
      ? await handshake(
          tlsConnect({ host: target.host, port: target.port, ...target.tls }),
          target.timeoutMs,
        )
      : await dial(target.host, target.port, target.timeoutMs);
    return new ProbeConnection(socket, target);
  }

  async greeting(): Promise<Greeting> {
    const event = await this.#next();
    if (event.type !== "greeting") throw new Error(`expected a greeting, got ${event.type}`);
    this.#target.trace?.("receive", statusText(event.greeting));
    return event.greeting;
  }

  /** CAPA; undefined when the server answers -ERR. */
  async capa(): Promise<{ capabilities: Capabilities; lines: readonly string[] } | undefined> {
    const event = await this.#command({ name: "CAPA" });
    if (event.type === "listing") {
      for (const line of event.lines) this.#target.trace?.("receive", line);
      this.#target.trace?.("receive", ".");
      return { capabilities: parseCapabilities(event.lines), lines: event.lines };
    }
    return undefined;
  }

  /** STLS; on +OK the TLS handshake follows and the TLS socket is returned. */
  async stls(): Promise<{ reply: StatusReply; socket?: TLSSocket }> {
    const event = await this.#command({ name: "STLS" });
    if (event.type !== "reply" || !event.reply.ok) {
      return {
        reply: event.type === "reply" ? event.reply : { ok: false, text: "unexpected answer" },
      };
    }
    const raw = this.#socket;
    raw.removeAllListeners("data");
    const secure = await handshake(
      tlsConnect({ socket: raw, ...this.#target.tls }),
      this.#target.timeoutMs,
    );
    this.#session.tlsEstablished();
    this.#socket = secure;
    this.#attach(secure);
    return { reply: event.reply, socket: secure };
  }

  async quit(): Promise<void> {
    try {
      await this.#command({ name: "QUIT" });
    } catch {
      // The answer does not matter.
    }
    this.close();
  }

  close(): void {
    this.#socket.destroy();
  }

  async #command(command: Pop3Command): Promise<ClientEvent> {
    this.#target.trace?.("send", command.name);
    this.#socket.write(this.#session.send(command));
    const event = await this.#next();
    if (event.type === "reply" || event.type === "listing") {
      this.#target.trace?.("receive", statusText(event.reply));
    }
    return event;
  }

  #attach(socket: Socket | TLSSocket): void {
    socket.on("data", (chunk: Buffer) => {
      try {
        this.#session.receiveData(chunk);
        for (let e = this.#session.nextEvent(); e !== NEED_DATA; e = this.#session.nextEvent()) {
          this.#events.push(e);
        }
      } catch (error) {
        this.#failure = error as Error;
      }
      this.#wake();
    });
    socket.on("error", (error) => {
      this.#failure ??= error;
      this.#wake();
    });
    socket.on("close", () => {
      this.#failure ??= new ProbeError("POP3_CLOSED", "the server closed the connection");
      this.#wake();
    });
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }

  async #next(): Promise<ClientEvent> {
    const deadline = Date.now() + this.#target.timeoutMs;
    for (;;) {
      const event = this.#events.shift();
      if (event !== undefined) return event;
      if (this.#failure !== undefined) throw this.#failure;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new ProbeError("POP3_TIMEOUT", `no answer within ${this.#target.timeoutMs} ms`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}

function statusText(reply: StatusReply): string {
  return `${reply.ok ? "+OK" : "-ERR"}${reply.code === undefined ? "" : ` [${reply.code}]`} ${reply.text}`.trimEnd();
}

function dial(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new ProbeError(
          "POP3_TIMEOUT",
          `could not connect to ${host}:${port} within ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(
        new ProbeError(
          "POP3_CONNECTION",
          `could not connect to ${host}:${port}: ${error.message}`,
          {
            cause: error,
          },
        ),
      );
    });
  });
}

function handshake(socket: TLSSocket, timeoutMs: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ProbeError("POP3_TIMEOUT", `TLS handshake did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      // A refused or unreachable port fails in the TCP connect, before any TLS: not a TLS failure.
      const syscall = (error as NodeJS.ErrnoException).syscall;
      const tcp = syscall === "connect" || syscall === "getaddrinfo";
      reject(
        tcp
          ? new ProbeError("POP3_CONNECTION", `could not connect: ${error.message}`, {
              cause: error,
            })
          : new ProbeError("POP3_TLS", `TLS failed: ${error.message}`, { cause: error }),
      );
    });
  });
}
