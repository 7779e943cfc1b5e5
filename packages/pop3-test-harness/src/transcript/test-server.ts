import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import type { TestServer } from "../test-server";
import { parseTranscript } from "./parse";
import { createSocketTransport } from "./socket-transport";
import type { TranscriptTransport } from "./transport";
import type { Transcript } from "./types";

/**
 * Gives a `createTestServer` server the transcript's header: empties every maildrop (`reset`),
 * adds the users, then the messages in order (with their uids when given).
 */
export function seedTestServer(server: TestServer, transcript: Transcript | string): void {
  const parsed = typeof transcript === "string" ? parseTranscript(transcript) : transcript;
  server.reset();
  for (const user of parsed.users) server.addUser(user.name, user.password);
  for (const message of parsed.messages) {
    server.addMessage(
      message.user,
      message.bytes,
      message.uid === undefined ? {} : { uid: message.uid },
    );
  }
}

export interface TestServerTransportOptions {
  /** Use the implicit-TLS port (needs `createTestServer({ tls: true })`). Default false. */
  readonly implicitTls?: boolean;
}

/**
 * A socket transport to a `createTestServer` server that seeds it from each transcript and
 * trusts its certificate (for STLS and implicit TLS).
 */
export function testServerTransport(
  server: TestServer,
  options: TestServerTransportOptions = {},
): TranscriptTransport {
  const certificate = server.certificate;
  const port = options.implicitTls ? server.tlsPort : server.port;
  if (port === undefined) throw new Error("implicitTls needs createTestServer({ tls: true })");
  return createSocketTransport({
    host: server.host,
    port,
    tls: options.implicitTls ? "implicit" : "none",
    ...(certificate === undefined
      ? {}
      : { tlsOptions: { ca: certificate.cert, servername: "localhost" } }),
    seed: (transcript) => seedTestServer(server, transcript),
    name: options.implicitTls ? `test server ${server.tlsUrl}` : `test server ${server.url}`,
  });
}

/** Reads and parses a transcript file; its base name appears in messages. */
export async function readTranscript(path: string): Promise<Transcript> {
  return parseTranscript(await readFile(path, "utf8"), { name: basename(path) });
}
