import { randomBytes } from "node:crypto";
import { open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Writable } from "node:stream";
import type { MessageStream, Pop3Client } from "pop3-client";
import { type Capabilities, serializeCapability } from "pop3-core";
import { CliError, EXIT, type ExitCode, toCliError } from "../errors";
import { formatBytes, table } from "../output";
import { type Context, openSession } from "../session";

/** Runs `body` on a session; QUIT at the end, RSET + QUIT (nothing deleted) after an error. */
export async function withSession<T>(
  context: Context,
  login: boolean,
  body: (client: Pop3Client) => Promise<T>,
): Promise<T> {
  const client = await openSession(context, { login });
  let result: T;
  try {
    result = await body(client);
  } catch (error) {
    await client[Symbol.asyncDispose]().catch(() => {});
    throw toCliError(error);
  }
  try {
    await client.quit();
  } catch {
    client.close();
  }
  return result;
}

export function capabilityLines(caps: Capabilities): string[] {
  return caps.list.map((c) => serializeCapability(c));
}

export async function capaCommand(
  context: Context,
  options: { login?: boolean },
): Promise<ExitCode> {
  const { output } = context;
  const result = await withSession(context, options.login === true, async (client) => {
    const before = {
      secure: client.secure,
      greeting: client.greeting.text,
      apop: client.greeting.apopTimestamp !== undefined,
      capabilities: capabilityLines(client.capabilityList),
    };
    return before;
  });
  if (output.json) {
    output.jsonDocument({
      host: context.config.host,
      port: context.config.port,
      tls: result.secure,
      greeting: result.greeting,
      apop: result.apop,
      loggedIn: options.login === true,
      capabilities: result.capabilities,
    });
  } else {
    if (result.capabilities.length === 0) output.line("(the server answers no CAPA)");
    for (const line of result.capabilities) output.line(line);
  }
  return EXIT.OK;
}

export async function statCommand(context: Context): Promise<ExitCode> {
  const stat = await withSession(context, true, (client) => client.stat());
  if (context.output.json) context.output.jsonDocument(stat);
  else
    context.output.line(
      `${stat.count} message${stat.count === 1 ? "" : "s"}, ${stat.size} octets (${formatBytes(stat.size)})`,
    );
  return EXIT.OK;
}

export async function listCommand(context: Context, msg: number | undefined): Promise<ExitCode> {
  const { output } = context;
  const entries = await withSession(context, true, async (client) =>
    msg === undefined ? client.list() : [await client.list(msg)],
  );
  if (output.json) output.jsonDocument(msg === undefined ? entries : entries[0]);
  else if (entries.length === 0) output.line("(no messages)");
  else output.line(table(entries.map((e) => [String(e.msg), String(e.size)])));
  return EXIT.OK;
}

export async function uidlCommand(context: Context, msg: number | undefined): Promise<ExitCode> {
  const { output } = context;
  const entries = await withSession(context, true, async (client) =>
    msg === undefined ? client.uidl() : [await client.uidl(msg)],
  );
  if (output.json) output.jsonDocument(msg === undefined ? entries : entries[0]);
  else if (entries.length === 0) output.line("(no messages)");
  else output.line(table(entries.map((e) => [String(e.msg), e.uid])));
  return EXIT.OK;
}

/** RETR / TOP: the raw bytes to stdout, or to a file (written aside, then renamed into place). */
async function download(
  context: Context,
  fetch: (client: Pop3Client) => Promise<MessageStream>,
  outputFile: string | undefined,
  describe: Record<string, unknown>,
): Promise<ExitCode> {
  const { output } = context;
  const size = await withSession(context, true, async (client) => {
    // pop3-client keeps an early stream error for the reader (no listener needed here).
    const stream = await fetch(client);
    if (outputFile === undefined && output.json) {
      // --json promises a JSON document on stdout, so the bytes (any octets: 8-bit, CRLF) travel
      // base64-encoded inside it: {msg, [lines,] size, base64}.
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      const bytes = Buffer.concat(chunks);
      output.jsonDocument({ ...describe, size: bytes.length, base64: bytes.toString("base64") });
      return bytes.length;
    }
    if (outputFile === undefined) return writeAll(stream, output.stdout);
    return writeFileAtomically(outputFile, stream);
  });
  if (outputFile !== undefined) {
    if (output.json) output.jsonDocument({ ...describe, size, file: outputFile });
    else output.note(`wrote ${size} octets to ${outputFile}`);
  }
  return EXIT.OK;
}

export function retrCommand(
  context: Context,
  msg: number,
  outputFile: string | undefined,
): Promise<ExitCode> {
  return download(context, (client) => client.retrieve(msg), outputFile, { msg });
}

export function topCommand(
  context: Context,
  msg: number,
  lines: number,
  outputFile: string | undefined,
): Promise<ExitCode> {
  return download(context, (client) => client.top(msg, lines), outputFile, { msg, lines });
}

/** Copies a message stream to stdout, with backpressure; a closed pipe (`| head`) is not an error. */
async function writeAll(stream: MessageStream, target: Writable): Promise<number> {
  let size = 0;
  let closed = false;
  const onError = (error: NodeJS.ErrnoException): void => {
    if (error.code === "EPIPE") closed = true;
  };
  target.on("error", onError);
  try {
    for await (const chunk of stream) {
      const bytes = chunk as Buffer;
      size += bytes.length;
      if (closed) continue; // keep reading so the session stays in step
      if (!target.write(bytes)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            target.off("drain", done);
            target.off("error", done);
            resolve();
          };
          target.once("drain", done);
          target.once("error", done);
        });
      }
    }
  } finally {
    target.off("error", onError);
  }
  return size;
}

async function writeFileAtomically(path: string, stream: MessageStream): Promise<number> {
  const temporary = join(
    dirname(path),
    `.${basename(path)}.${randomBytes(4).toString("hex")}.part`,
  );
  const file = await open(temporary, "w", 0o600);
  let size = 0;
  try {
    for await (const chunk of stream) {
      const bytes = chunk as Buffer;
      size += bytes.length;
      await file.write(bytes);
    }
    await file.sync();
    await file.close();
    await rename(temporary, path);
  } catch (error) {
    await file.close().catch(() => {});
    await unlink(temporary).catch(() => {});
    throw error;
  }
  return size;
}

/**
 * DELE each message, then QUIT. All or nothing: if a DELE is refused, the session is reset
 * (RSET + QUIT) and nothing is deleted.
 */
export async function deleCommand(context: Context, msgs: readonly number[]): Promise<ExitCode> {
  const { output } = context;
  const client = await openSession(context, { login: true });
  try {
    for (const msg of msgs) await client.delete(msg);
  } catch (error) {
    await client[Symbol.asyncDispose]().catch(() => {});
    const problem = toCliError(error);
    throw new CliError(problem.exitCode, `${problem.message}; nothing was deleted`, {
      code: problem.code,
      cause: error,
    });
  }
  let committed: boolean;
  let reply: string;
  try {
    const result = await client.quit();
    committed = result.committed;
    reply =
      `${result.reply.ok ? "+OK" : "-ERR"}${result.reply.code ? ` [${result.reply.code}]` : ""} ${result.reply.text}`.trim();
  } catch (error) {
    // No answer to QUIT: we cannot know whether the server removed them.
    throw new CliError(
      EXIT.CONNECTION,
      `QUIT got no answer (${toCliError(error).message}): the deletions may or may not have been committed`,
    );
  }
  if (output.json) {
    output.jsonDocument({ deleted: committed ? msgs : [], requested: msgs, committed, reply });
  } else if (committed) {
    output.line(
      `deleted ${msgs.length} message${msgs.length === 1 ? "" : "s"} (${msgs.join(", ")}): committed`,
    );
  } else {
    output.error(`the server did not commit the deletions (${reply}): nothing was deleted`);
  }
  return committed ? EXIT.OK : EXIT.SERVER;
}
