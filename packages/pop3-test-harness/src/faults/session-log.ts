import type { Socket } from "node:net";
import { LINE_TOO_LONG, LineReader, parseCommand, redactCommand } from "pop3-core";

/** What one client connection sent, as the test server's proxy saw it. */
export interface SessionRecord {
  readonly id: number;
  readonly startedAt: Date;
  /** Set when the connection has closed. */
  endedAt?: Date;
  /** Command lines in order, secrets shown as `***` (pop3-core's `redactCommand`). */
  readonly commands: string[];
}

const GENEROUS = { maxLineLength: 1 << 20, maxArgumentLength: 1 << 20, maxSaslLineLength: 1 << 20 };

/**
 * Records the commands a client sends on `socket`. Lines that are not commands (SASL responses,
 * garbage) are never shown, since they may hold credentials. After STLS the rest is TLS and is
 * not read.
 */
export function recordCommands(socket: Socket, record: SessionRecord): void {
  const reader = new LineReader(1 << 20);
  let encrypted = false;
  const onData = (chunk: Buffer): void => {
    if (encrypted) return;
    reader.push(new Uint8Array(chunk));
    for (let line = reader.readLine(); line !== undefined; line = reader.readLine()) {
      if (line === LINE_TOO_LONG) {
        record.commands.push("(over-long line)");
        continue;
      }
      try {
        const command = parseCommand(line, GENEROUS);
        record.commands.push(redactCommand(command));
        if (command.name === "STLS") {
          encrypted = true;
          record.commands.push("(TLS: the rest of the session is encrypted)");
          return;
        }
      } catch {
        record.commands.push("(not a command: SASL response or garbage, not shown)");
      }
    }
  };
  socket.on("data", onData);
  socket.once("close", () => {
    record.endedAt = new Date();
  });
}
