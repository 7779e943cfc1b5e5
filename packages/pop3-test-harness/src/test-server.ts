import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { Secret, timingSafeEqual } from "pop3-core";
import {
  type Authenticator,
  createServer,
  type Maildrop,
  type MailStore,
  MemoryStore,
  type Pop3Server,
  type ServerOptions,
  type ServerStats,
} from "pop3-server";
import { generateCertificate, type TestCertificate } from "./certificate";
import { createFaultProxy } from "./faults/proxy";
import type { SessionRecord } from "./faults/session-log";
import type { FaultRule } from "./faults/types";

export interface TestServerOptions {
  /**
   * Also listen with implicit TLS and offer STLS: `true` with a generated certificate for
   * `localhost` and 127.0.0.1, or with this certificate (e.g. `generateCertificate({ onlyNames })`).
   */
  readonly tls?: boolean | TestCertificate;
  /** Users and passwords to start with. */
  readonly users?: Readonly<Record<string, string>>;
  /**
   * Anything else for `createServer` (limits, greeting, loginDelaySeconds...). A test server
   * defaults some limits for tests (no failed-login delay or caps, no per-address shares,
   * `shutdownGraceMs` 500, `closeTimeoutMs` 1000); each limit given here replaces its default, the
   * others stay, so a test can still exercise one protection.
   */
  readonly server?: Partial<
    Omit<ServerOptions, "store" | "auth" | "plain" | "implicitTls" | "tls">
  >;
  /** Faults for every connection to `port` (see `faults.add` for later ones). */
  readonly faults?: readonly FaultRule[];
}

/** Fault injection on the plain port; rules apply to connections opened after they are added. */
export interface FaultControl {
  add(rule: FaultRule): void;
  clear(): void;
  /** The next `times` UPDATEs (QUIT after DELE) fail: `-ERR [SYS/TEMP]`, nothing deleted. */
  failCommits(times?: number): void;
}

/** A committed UPDATE: which messages a session removed with DELE + QUIT. */
export interface Deletion {
  readonly user: string;
  readonly uids: readonly string[];
  readonly at: Date;
}

export interface TestServer extends AsyncDisposable {
  readonly host: string;
  readonly port: number;
  /** `pop3://127.0.0.1:<port>` */
  readonly url: string;
  /** The implicit-TLS port, with `tls: true`. */
  readonly tlsPort: number | undefined;
  /** `pop3s://127.0.0.1:<tlsPort>`, with `tls: true`. */
  readonly tlsUrl: string | undefined;
  /** What a client must trust, with `tls: true`. */
  readonly certificate: TestCertificate | undefined;
  readonly server: Pop3Server;
  /** The server itself, without the fault proxy in front. */
  readonly directPort: number;
  readonly faults: FaultControl;
  addUser(user: string, password: string): void;
  addMessage(
    user: string,
    message: string | Uint8Array,
    options?: { uid?: string },
  ): { uid: string; size: number };
  /** Adds an `.eml` file's bytes as they are. */
  addEml(user: string, path: string): Promise<{ uid: string; size: number }>;
  /** Adds every message of a Maildir folder (`new/` and `cur/`), in name order. */
  addMaildir(user: string, folder: string): Promise<number>;
  /** What the user's maildrop holds now. */
  messages(user: string): { uid: string; size: number; bytes: Uint8Array }[];
  /** Every committed UPDATE, oldest first. */
  readonly deletions: readonly Deletion[];
  /** Every connection to `port` with the commands it sent (secrets as `***`), oldest first. */
  readonly sessions: readonly SessionRecord[];
  stats(): Readonly<ServerStats>;
  /** Empties every maildrop and the deletion log; users stay. */
  reset(): void;
  close(): Promise<void>;
}

/**
 * Limits of a test server where they differ from pop3-server's. Its only clients are tests on
 * 127.0.0.1, so the protections against hostile clients would get in their way: a suite that tries
 * a wrong password more than 10 times would be refused with `[SYS/TEMP]` for 15 minutes, one that
 * holds more than 10 connections not logged in yet would be refused, and disposing a server that a
 * client is still connected to would wait 10 s for it, then 2 s more for a client that does not
 * read (past vitest's 5 s test timeout, which hides the real failure). A test of those protections sets the limit it exercises in `server.limits`.
 */
const TEST_SERVER_LIMITS = {
  /** No delay after a failed login: tests of wrong passwords stay fast. */
  failedLoginDelayMs: 0,
  maxFailedLoginsPerAddress: 1_000_000,
  maxFailedLoginsPerUser: 1_000_000,
  // Every client is 127.0.0.1, so a per-address share would be a share of the whole server; the
  // server-wide `maxConnections` (pop3-server's default, 1000) is the cap that remains.
  maxConnectionsPerAddress: 1_000_000,
  maxPreLoginConnectionsPerAddress: 1_000_000,
  /** `close()` ends sessions still open after this: about 1.5 s in all with `closeTimeoutMs`. */
  shutdownGraceMs: 500,
  /**
   * How long a closing connection may take to read its last answer. A client on loopback that
   * reads at all needs milliseconds; waiting longer for one that does not only delays `close()`.
   */
  closeTimeoutMs: 1000,
} as const;

/**
 * An in-process POP3 server on 127.0.0.1 and a free port, with a memory store to seed and
 * inspect: the POP3 counterpart of GreenMail, built on pop3-server. Cleartext logins are allowed
 * (it only listens on loopback), and the limits against hostile clients are relaxed for tests (the
 * README lists them); `close()` resolves within about 1.5 s whatever the clients do.
 */
export async function createTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const users = new Map<string, string>(Object.entries(options.users ?? {}));
  const deletions: Deletion[] = [];
  const failCommit = (): boolean => {
    if (failingCommits <= 0) return false;
    failingCommits -= 1;
    return true;
  };
  let store = new MemoryStore({ failCommit });
  const recordingStore: MailStore = {
    async openMaildrop(user, signal) {
      const maildrop = await store.openMaildrop(user, signal);
      return recordCommits(maildrop, (uids) => deletions.push({ user, uids, at: new Date() }));
    },
  };
  const certificate =
    options.tls === true
      ? await generateCertificate()
      : options.tls === false || options.tls === undefined
        ? undefined
        : options.tls;
  const server = createServer({
    ...options.server,
    store: recordingStore,
    auth: mapAuthenticator(users),
    plain: { host: "127.0.0.1", port: 0 },
    ...(certificate === undefined
      ? {}
      : { implicitTls: { host: "127.0.0.1", port: 0 }, tls: certificate }),
    allowCleartextAuth: true,
    hostname: options.server?.hostname ?? "pop3-test-server",
    limits: { ...TEST_SERVER_LIMITS, ...options.server?.limits },
  });
  const addresses = await server.listen();
  const directPort = addresses.plain?.port as number;
  const tlsPort = addresses.implicitTls?.port;
  // The public port goes through the fault proxy, which pipes untouched while no rule is set.
  const proxy = await createFaultProxy(
    { host: "127.0.0.1", port: directPort },
    options.faults ?? [],
  );
  const port = proxy.port;
  let failingCommits = 0;
  const close = async (): Promise<void> => {
    await proxy.close();
    await server.close();
  };

  const addMessage: TestServer["addMessage"] = (user, message, messageOptions) =>
    store.addMessage(user, message, messageOptions);

  return {
    host: "127.0.0.1",
    port,
    url: `pop3://127.0.0.1:${port}`,
    tlsPort,
    tlsUrl: tlsPort === undefined ? undefined : `pop3s://127.0.0.1:${tlsPort}`,
    certificate,
    server,
    directPort,
    faults: {
      add: (rule) => proxy.add(rule),
      clear: () => proxy.clear(),
      failCommits: (times = 1) => {
        failingCommits = times;
      },
    },
    deletions,
    get sessions() {
      return proxy.sessions;
    },
    addUser: (user, password) => {
      users.set(user, password);
    },
    addMessage,
    addEml: async (user, path) => addMessage(user, await readFile(path)),
    addMaildir: async (user, folder) => {
      let count = 0;
      for (const sub of ["cur", "new"]) {
        const dir = join(folder, sub);
        const names = (await readdir(dir).catch(() => [] as string[]))
          .filter((n) => !n.startsWith("."))
          .sort();
        for (const name of names) {
          addMessage(user, await readFile(join(dir, name)));
          count += 1;
        }
      }
      return count;
    },
    messages: (user) => store.messages(user),
    stats: () => server.stats(),
    reset: () => {
      store = new MemoryStore({ failCommit });
      deletions.length = 0;
      failingCommits = 0;
      proxy.clear();
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function recordCommits(maildrop: Maildrop, onCommit: (uids: readonly string[]) => void): Maildrop {
  return {
    messages: maildrop.messages,
    read: (index, signal) => maildrop.read(index, signal),
    release: () => maildrop.release(),
    commit: async (uids) => {
      await maildrop.commit(uids);
      onCommit([...uids]);
    },
  };
}

/** Users from a live map, so tests can add users after start; shared secrets allow APOP and CRAM-MD5. */
function mapAuthenticator(users: Map<string, string>): Authenticator {
  const encoder = new TextEncoder();
  return {
    async verifyPassword(user, password) {
      const known = users.get(user);
      const ok =
        known !== undefined &&
        timingSafeEqual(encoder.encode(known), encoder.encode(password.reveal()));
      return ok ? { ok: true, user } : { ok: false };
    },
    async getSharedSecret(user) {
      const known = users.get(user);
      return known === undefined ? undefined : new Secret(known);
    },
  };
}
