import { createServer, type Server, type Socket } from "node:net";
import { LINE_TOO_LONG, LineReader } from "pop3-core";

export interface Script {
  /** The first bytes; default a plain greeting. `null` never greets. */
  greeting?: string | null;
  /** Answers one command line; return what to send (or nothing to stay silent). */
  answer(
    line: string,
    socket: Socket,
  ): string | Buffer | undefined | Promise<string | Buffer | undefined>;
  /** How replies are written: whole, or in pieces of this many bytes with a pause between. */
  chunkSize?: number;
}

export interface ScriptedServer {
  readonly port: number;
  /** Every command line received, in order. */
  readonly received: string[];
  /** How many command lines arrived in each TCP read (to see pipelining). */
  readonly linesPerRead: number[];
  close(): Promise<void>;
}

/**
 * A raw TCP server whose answers are written by the test, byte for byte: for the broken and
 * hostile behaviours a correct server never shows. It reads command lines with core's LineReader.
 */
export async function scriptedServer(script: Script): Promise<ScriptedServer> {
  const received: string[] = [];
  const linesPerRead: number[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    const reader = new LineReader(1 << 20);
    let queue = Promise.resolve();
    const write = async (data: string | Buffer): Promise<void> => {
      const bytes = typeof data === "string" ? Buffer.from(data, "latin1") : data;
      const size = script.chunkSize ?? bytes.length;
      for (let i = 0; i < bytes.length; i += size) {
        if (socket.destroyed) return;
        socket.write(bytes.subarray(i, i + size));
        if (script.chunkSize !== undefined) await new Promise((r) => setImmediate(r));
      }
    };
    if (script.greeting !== null) {
      queue = queue.then(() => write(script.greeting ?? "+OK scripted server ready\r\n"));
    }
    socket.on("data", (chunk: Buffer) => {
      reader.push(new Uint8Array(chunk));
      let lines = 0;
      for (let line = reader.readLine(); line !== undefined; line = reader.readLine()) {
        if (line === LINE_TOO_LONG) continue;
        const text = Buffer.from(line).toString("latin1");
        received.push(text);
        lines += 1;
        queue = queue.then(async () => {
          const reply = await script.answer(text, socket);
          if (reply !== undefined) await write(reply);
        });
      }
      if (lines > 0) linesPerRead.push(lines);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return {
    port: typeof address === "object" && address !== null ? address.port : 0,
    received,
    linesPerRead,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export const MESSAGE = "From: a@example.org\r\nSubject: hi\r\n\r\n.leading dot\r\nbody\r\n";
export const STUFFED = "From: a@example.org\r\nSubject: hi\r\n\r\n..leading dot\r\nbody\r\n";

/** A well-behaved maildrop of one user `alice`/`secret` with two messages, as scripted answers. */
export function goodServer(
  options: { pipelining?: boolean; stls?: boolean } = {},
): Script["answer"] {
  const caps = ["TOP", "UIDL", "USER", "SASL PLAIN", "RESP-CODES"];
  if (options.pipelining ?? true) caps.push("PIPELINING");
  if (options.stls) caps.push("STLS");
  return (line) => {
    const [keyword = "", arg] = line.split(" ");
    switch (keyword.toUpperCase()) {
      case "CAPA":
        return `+OK\r\n${caps.join("\r\n")}\r\n.\r\n`;
      case "USER":
        return "+OK\r\n";
      case "AUTH": {
        const response = line.split(" ")[2];
        const ok =
          response !== undefined &&
          Buffer.from(response, "base64").toString() === "\0alice\0secret";
        return ok ? "+OK logged in\r\n" : "-ERR [AUTH] authentication failed\r\n";
      }
      case "PASS":
        return line === "PASS secret" ? "+OK logged in\r\n" : "-ERR [AUTH] wrong password\r\n";
      case "STAT":
        return `+OK 2 ${MESSAGE.length * 2}\r\n`;
      case "LIST":
        return arg === undefined
          ? `+OK\r\n1 ${MESSAGE.length}\r\n2 ${MESSAGE.length}\r\n.\r\n`
          : Number(arg) <= 2
            ? `+OK ${arg} ${MESSAGE.length}\r\n`
            : "-ERR no such message\r\n";
      case "UIDL":
        return arg === undefined
          ? "+OK\r\n1 uid-one\r\n2 uid-two\r\n.\r\n"
          : `+OK ${arg} uid-${arg === "1" ? "one" : "two"}\r\n`;
      case "RETR":
        return Number(arg) <= 2
          ? `+OK ${MESSAGE.length} octets\r\n${STUFFED}.\r\n`
          : "-ERR no such message\r\n";
      case "TOP":
        return "+OK\r\nFrom: a@example.org\r\nSubject: hi\r\n\r\n.\r\n";
      case "DELE":
      case "RSET":
      case "NOOP":
        return "+OK\r\n";
      case "QUIT":
        return "+OK bye\r\n";
      default:
        return "-ERR unknown command\r\n";
    }
  };
}
