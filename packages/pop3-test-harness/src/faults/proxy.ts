import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";
import {
  hasMultilineReply,
  isContinuationLine,
  type Pop3Command,
  parseCommand,
  serializeMechanismList,
  serializeStatusLine,
} from "pop3-core";
import { composeAnswer } from "./compose";
import { recordCommands, type SessionRecord } from "./session-log";
import type { Fault, FaultRule } from "./types";
import { WireReader } from "./wire-reader";

export interface FaultProxy extends AsyncDisposable {
  readonly port: number;
  /** Every connection through the proxy, with the commands it sent, oldest first. */
  readonly sessions: readonly SessionRecord[];
  /** Adds a rule; it applies to connections opened from now on. */
  add(rule: FaultRule): void;
  clear(): void;
  close(): Promise<void>;
}

const GENEROUS = { maxLineLength: 1 << 20, maxArgumentLength: 1 << 20, maxSaslLineLength: 1 << 20 };

/**
 * A POP3-aware TCP proxy on 127.0.0.1 in front of any POP3 server (ours, Dovecot, ...) that
 * injects faults into the answers. It reads each command, forwards it, reads the complete answer
 * with pop3-core, and writes it back changed as the matching rule says. Connections opened while
 * no rule is set are piped untouched. After a successful STLS the rest of the connection is piped
 * untouched as well (the proxy cannot see inside TLS).
 */
export async function createFaultProxy(
  target: { host: string; port: number },
  initial: readonly FaultRule[] = [],
): Promise<FaultProxy> {
  const rules: { rule: FaultRule; left: number }[] = [];
  const add = (rule: FaultRule): void => {
    rules.push({ rule, left: rule.times ?? Number.POSITIVE_INFINITY });
  };
  for (const rule of initial) add(rule);
  const take = (on: string): Fault | undefined => {
    const found =
      rules.find((r) => r.left > 0 && (r.rule.on ?? "*") === on) ??
      rules.find((r) => r.left > 0 && (r.rule.on ?? "*") === "*");
    if (found === undefined) return undefined;
    found.left -= 1;
    return found.rule.fault;
  };

  const sockets = new Set<Socket>();
  const sessions: SessionRecord[] = [];
  const server: Server = createServer({ noDelay: true }, (client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => {});
    const record: SessionRecord = { id: sessions.length + 1, startedAt: new Date(), commands: [] };
    sessions.push(record);
    recordCommands(client, record);
    const backend = connect({ ...target, noDelay: true });
    sockets.add(backend);
    backend.on("close", () => {
      sockets.delete(backend);
      client.destroy();
    });
    backend.on("error", () => client.destroy());
    client.on("close", () => backend.destroy());
    if (rules.every((r) => r.left <= 0)) {
      client.pipe(backend);
      backend.pipe(client);
      return;
    }
    void relay(client, backend, take).catch(() => {
      client.destroy();
      backend.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const close = async (): Promise<void> => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    port: typeof address === "object" && address !== null ? address.port : 0,
    sessions,
    add,
    clear: () => {
      rules.length = 0;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

async function relay(
  client: Socket,
  backend: Socket,
  take: (on: string) => Fault | undefined,
): Promise<void> {
  await once(backend, "connect");
  const fromServer = new WireReader(backend);
  const fromClient = new WireReader(client);

  const greeting = await fromServer.line();
  if (greeting === undefined) return void client.end();
  const greetingFault = take("GREETING");
  if (greetingFault?.type === "stall") return void (await once(client, "close"));
  if (greetingFault?.type === "error") {
    const reply = {
      ok: false,
      code: greetingFault.code ?? "SYS/TEMP",
      text: greetingFault.text ?? "injected failure",
    };
    await write(client, Buffer.from(`${serializeStatusLine(reply)}\r\n`));
    return void client.end();
  }
  if (
    !(await deliver(
      client,
      composeAnswer(undefined, greeting, undefined, greetingFault),
      greetingFault,
    ))
  )
    return;

  let inSasl = false;
  for (;;) {
    const line = await fromClient.line();
    if (line === undefined) return void backend.end();
    let command: Pop3Command | undefined;
    if (!inSasl) {
      try {
        command = parseCommand(line, GENEROUS);
      } catch {
        command = undefined;
      }
    }
    const fault = inSasl ? undefined : take(command?.name ?? "UNKNOWN");

    if (fault?.type === "error") {
      const reply = {
        ok: false,
        ...(fault.code === undefined ? {} : { code: fault.code }),
        text: fault.text ?? "injected failure",
      };
      await write(client, Buffer.from(`${serializeStatusLine(reply)}\r\n`));
      continue;
    }
    if (
      fault?.type === "auth-list" &&
      command?.name === "AUTH" &&
      command.mechanism === undefined
    ) {
      const lines = serializeMechanismList(fault.mechanisms ?? ["PLAIN", "LOGIN"]);
      await write(client, Buffer.from(`+OK\r\n${lines.map((l) => `${l}\r\n`).join("")}.\r\n`));
      continue;
    }
    if (fault?.type === "stall") {
      await once(client, "close");
      return;
    }

    backend.write(Buffer.concat([line, Buffer.from("\r\n")]));
    const status = await fromServer.line();
    if (status === undefined) return void client.end();
    const statusText = Buffer.from(status).toString("latin1");
    if (isContinuationLine(statusText)) {
      // A SASL challenge: the client's next line is a response, not a command.
      inSasl = true;
      if (!(await deliver(client, Buffer.concat([status, Buffer.from("\r\n")]), fault))) return;
      continue;
    }
    inSasl = false;
    const ok = statusText.startsWith("+OK");
    const body =
      ok && command !== undefined && hasMultilineReply(command)
        ? await fromServer.body()
        : undefined;
    if (!(await deliver(client, composeAnswer(command, status, body, fault), fault))) return;

    if (ok && command?.name === "STLS") {
      // From here on it is TLS: pipe what is left, untouched.
      fromClient.detach();
      fromServer.detach();
      const early = fromClient.takeRest();
      if (early.length > 0) backend.write(early);
      client.pipe(backend);
      backend.pipe(client);
      return;
    }
    if (command?.name === "QUIT") {
      client.end();
      return;
    }
  }
}

/** Writes an answer as the fault says; false when the connection was dropped on purpose. */
async function deliver(client: Socket, bytes: Buffer, fault: Fault | undefined): Promise<boolean> {
  switch (fault?.type) {
    case "chunk":
      for (let i = 0; i < bytes.length; i += fault.size) {
        await write(client, bytes.subarray(i, i + fault.size));
        await new Promise((resolve) => setImmediate(resolve));
      }
      return true;
    case "trickle": {
      const size = fault.size ?? 1;
      for (let i = 0; i < bytes.length; i += size) {
        await write(client, bytes.subarray(i, i + size));
        await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
      }
      return true;
    }
    case "drop":
      await write(client, bytes.subarray(0, fault.afterBytes));
      client.destroy();
      return false;
    default:
      await write(client, bytes);
      return true;
  }
}

function write(socket: Socket, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    socket.write(bytes, () => resolve());
  });
}
