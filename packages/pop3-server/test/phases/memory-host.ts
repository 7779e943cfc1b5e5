import type { StatusReply } from "pop3-core";
import { staticUsers } from "../../src/auth/static-users";
import type { Authenticator } from "../../src/auth/types";
import { createServerContext, type ServerContext } from "../../src/context";
import { resolveOptions, type ServerOptions } from "../../src/options";
import type { BodyFilter, PhaseHost } from "../../src/phase-host";
import { MemoryStore } from "../../src/store/memory-store";

/** What a phase did to its connection, in order. */
export type HostAction =
  | { readonly type: "reply"; readonly reply: StatusReply }
  | { readonly type: "lines"; readonly reply: StatusReply; readonly lines: readonly string[] }
  | { readonly type: "body"; readonly reply: StatusReply; readonly bytes: Buffer }
  | { readonly type: "challenge"; readonly bytes: Buffer }
  | { readonly type: "end" }
  | { readonly type: "close-with"; readonly reply: StatusReply }
  | { readonly type: "terminate"; readonly reply: StatusReply }
  | { readonly type: "bad-command" };

/**
 * A `PhaseHost` in memory: no socket, no `Connection`, no `ServerSession`. It records what the
 * phase asks for, so a test sees each decision of a phase on its own. `sendBody` reads the
 * source to the end (through `take`, as the connection does) and checks the announced size.
 */
export class MemoryHost implements PhaseHost {
  readonly id = 1;
  readonly remoteAddress: string;
  readonly context: ServerContext;
  readonly actions: HostAction[] = [];
  tls: boolean;
  closed = false;
  readonly #closing = new AbortController();
  readonly closedSignal: AbortSignal = this.#closing.signal;

  constructor(context: ServerContext, options: { tls?: boolean; remoteAddress?: string } = {}) {
    this.context = context;
    this.tls = options.tls ?? false;
    this.remoteAddress = options.remoteAddress ?? "192.0.2.1";
  }

  /** The client leaves: `closed`, and the signal aborts. */
  leave(): void {
    this.closed = true;
    this.#closing.abort();
  }

  /** The actions recorded since the last call. */
  take(): HostAction[] {
    return this.actions.splice(0);
  }

  reply(reply: StatusReply): void {
    this.actions.push({ type: "reply", reply });
  }

  replyLines(reply: StatusReply, lines: readonly string[]): undefined {
    this.actions.push({ type: "lines", reply, lines: [...lines] });
    return undefined;
  }

  challenge(bytes: Uint8Array): void {
    this.actions.push({ type: "challenge", bytes: Buffer.from(bytes) });
  }

  async sendBody(
    reply: StatusReply,
    source: AsyncIterable<Uint8Array>,
    take?: BodyFilter,
    octets?: number,
  ): Promise<boolean> {
    const parts: Uint8Array[] = [];
    for await (const chunk of source) {
      parts.push(take === undefined ? chunk : take.push(chunk));
      if (take?.done) break;
    }
    const bytes = Buffer.concat(parts);
    this.actions.push({ type: "body", reply, bytes });
    return octets === undefined || octets === bytes.length;
  }

  sendWholeBody(reply: StatusReply, body: Uint8Array, take?: BodyFilter, octets?: number): boolean {
    const bytes = Buffer.from(take === undefined ? body : take.push(body));
    this.actions.push({ type: "body", reply, bytes });
    return octets === undefined || octets === bytes.length;
  }

  end(): void {
    this.actions.push({ type: "end" });
    this.closed = true;
  }

  closeWith(reply: StatusReply): void {
    this.actions.push({ type: "close-with", reply });
    this.closed = true;
  }

  terminate(reply: StatusReply): void {
    this.actions.push({ type: "terminate", reply });
    this.closed = true;
  }

  countBadCommand(): void {
    this.actions.push({ type: "bad-command" });
  }
}

export const USERS = { alice: "wonderland", bob: "builder" };

/**
 * The shared context of a real server (throttle, hash pool, counters) over a `MemoryStore`, built
 * from options the way `createServer` builds it; nothing listens.
 */
export function memoryContext(
  overrides: Partial<ServerOptions> & { auth?: Authenticator } = {},
  store = new MemoryStore(),
): { context: ServerContext; store: MemoryStore } {
  const options = resolveOptions({
    store,
    auth: staticUsers(USERS),
    plain: { port: 0 },
    hostname: "test.local",
    ...overrides,
    limits: { failedLoginDelayMs: 0, ...overrides.limits },
  });
  return { context: createServerContext(options), store };
}
