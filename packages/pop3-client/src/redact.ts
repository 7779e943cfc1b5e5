import { type Pop3Command, redactCommand } from "pop3-core";

/**
 * A command as traces and errors show it: core's `redactCommand` (PASS, AUTH responses), and the
 * APOP digest as well. It is MD5(timestamp + secret) with the timestamp in the greeting, so anyone
 * who reads it can test password guesses offline, as with CRAM-MD5's response.
 */
export function redact(command: Pop3Command): string {
  return command.name === "APOP" ? `APOP ${command.user} ***` : redactCommand(command);
}
