import { connect as tlsConnect } from "node:tls";
import {
  createServer,
  MemoryStore,
  type Pop3Server,
  type ServerOptions,
  staticUsers,
} from "pop3-server";
import { generateCertificate, type TestCertificate } from "../certificate";
import { memoryPair } from "./memory-pair";
import { opened, StreamConnection } from "./socket-transport";
import type { TranscriptConnection, TranscriptTransport } from "./transport";
import type { Transcript } from "./types";

export interface MemoryTransportOptions {
  /**
   * Offer STLS (default true): the server gets a generated certificate and `starttls` is a real
   * TLS handshake over the in-memory stream. `false`: no certificate, STLS is refused.
   */
  readonly stls?: boolean;
  /** Every connection is TLS from the first byte, like an implicit-TLS port (no STLS then). */
  readonly implicitTls?: boolean;
  /** Greeting text. Default pop3-server's, `POP3 server ready`. */
  readonly greeting?: string;
  /**
   * Play against this store instead of a fresh `MemoryStore` seeded from each transcript's
   * messages; the users still come from the header.
   */
  readonly store?: MemoryStore;
  /** Anything else for pop3-server's `createServer` (limits, loginDelaySeconds, hostname...). */
  readonly server?: Partial<
    Omit<ServerOptions, "store" | "auth" | "plain" | "implicitTls" | "tls" | "greeting">
  >;
}

export interface MemoryTransport extends TranscriptTransport {
  /** The store of the current (or last) run: `messages(user)`, `isLocked(user)` afterwards. */
  readonly store: MemoryStore | undefined;
  /** The pop3-server of the current (or last) run. */
  readonly server: Pop3Server | undefined;
  /** Closes the last run's server; the next run starts a new one anyway. */
  close(): Promise<void>;
}

/**
 * Limits where the in-memory server differs from pop3-server's defaults, as `createTestServer`'s
 * do: every connection comes from the same place, and a transcript that tries wrong passwords or
 * many sessions must not be throttled or refused. A transcript exercising a limit sets it in
 * `server.limits`.
 */
const MEMORY_LIMITS = {
  failedLoginDelayMs: 0,
  maxFailedLoginsPerAddress: 1_000_000,
  maxFailedLoginsPerUser: 1_000_000,
  maxConnectionsPerAddress: 1_000_000,
  maxPreLoginConnectionsPerAddress: 1_000_000,
  shutdownGraceMs: 0,
  closeTimeoutMs: 1000,
} as const;

/** What every memory connection reports as its address (per-address limits, logs). */
const MEMORY_ADDRESS = "memory";

let certificate: Promise<TestCertificate> | undefined;

/** The in-memory servers' certificate: made once per process, it takes a moment. */
function sharedCertificate(): Promise<TestCertificate> {
  certificate ??= generateCertificate();
  return certificate;
}

/**
 * Plays transcripts against pop3-server itself — its connection, phases and session, the code a
 * socket client talks to — over an in-memory stream pair (`server.serve`), without a socket.
 * Each run gets a fresh server and `MemoryStore` seeded from the transcript's header. Bytes cross
 * in both directions asynchronously, one write at a time, in order, as a network delivers them;
 * a `C>` write split over `wait`s arrives split. STLS and implicit TLS are real TLS handshakes
 * over the pair, with a certificate made once per process (`generateCertificate`).
 */
export function createMemoryTransport(options: MemoryTransportOptions = {}): MemoryTransport {
  const implicitTls = options.implicitTls ?? false;
  const withTls = implicitTls || (options.stls ?? true);
  let server: Pop3Server | undefined;
  let store: MemoryStore | undefined;
  let cert: TestCertificate | undefined;
  const close = async (): Promise<void> => {
    const last = server;
    server = undefined;
    await last?.close();
  };
  return {
    name: implicitTls ? "memory (implicit TLS)" : "memory",
    get store() {
      return store;
    },
    get server() {
      return server;
    },
    close,
    async prepare(transcript) {
      await close();
      if (withTls) cert = await sharedCertificate();
      store = options.store ?? seededStore(transcript);
      server = createServer({
        ...options.server,
        store,
        auth: staticUsers(Object.fromEntries(transcript.users.map((u) => [u.name, u.password]))),
        // Never listened on: connections come through `serve`. createServer wants a listener.
        plain: { host: "127.0.0.1", port: 0 },
        ...(cert === undefined ? {} : { tls: cert }),
        ...(options.greeting === undefined ? {} : { greeting: options.greeting }),
        allowCleartextAuth: options.server?.allowCleartextAuth ?? true,
        limits: { ...MEMORY_LIMITS, ...options.server?.limits },
      });
    },
    async connect(_session, sink): Promise<TranscriptConnection> {
      const current = server;
      if (current === undefined) throw new Error("no server: call prepare first");
      const [client, served] = memoryPair();
      void current.serve(served, { remoteAddress: MEMORY_ADDRESS, implicitTls });
      const tlsOptions = cert === undefined ? {} : { ca: cert.cert, servername: "localhost" };
      const stream = implicitTls
        ? await opened(tlsConnect({ socket: client, ...tlsOptions }), "secureConnect")
        : client;
      return new StreamConnection(stream, sink, "localhost", { tlsOptions });
    },
  };
}

/** A store with the transcript's messages, in order, with their uids when given. */
function seededStore(transcript: Transcript): MemoryStore {
  const store = new MemoryStore();
  for (const message of transcript.messages) {
    store.addMessage(
      message.user,
      message.bytes,
      message.uid === undefined ? {} : { uid: message.uid },
    );
  }
  return store;
}
