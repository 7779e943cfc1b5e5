import {
  type Pop3Command,
  type StatusReply,
  serializeCapabilities,
  serializeDropListing,
  serializeScanListing,
  serializeUidListing,
  TopFilter,
} from "pop3-core";
import type { Connection } from "./connection";
import { answerLang } from "./lang";
import type { Mailbox } from "./mailbox";
import { observe } from "./observer";

const NO_SUCH_MESSAGE: StatusReply = { ok: false, text: "no such message" };

/** Commands of the TRANSACTION state (RFC 1939 §5) and QUIT's UPDATE (§6). */
export function handleTransaction(
  conn: Connection,
  command: Pop3Command,
): Promise<void> | undefined {
  const mailbox = conn.mailbox as Mailbox;
  switch (command.name) {
    case "STAT":
      conn.reply({ ok: true, text: serializeDropListing(mailbox.stat()) });
      return undefined;
    case "LIST":
      if (command.msg !== undefined) {
        const info = mailbox.get(command.msg);
        conn.reply(
          info === undefined
            ? NO_SUCH_MESSAGE
            : { ok: true, text: serializeScanListing({ msg: command.msg, size: info.size }) },
        );
        return undefined;
      }
      return conn.replyLines(
        { ok: true, text: `${mailbox.stat().count} messages` },
        [...mailbox.visible()].map(({ msg, info }) =>
          serializeScanListing({ msg, size: info.size }),
        ),
      );
    case "UIDL":
      if (command.msg !== undefined) {
        const info = mailbox.get(command.msg);
        conn.reply(
          info === undefined
            ? NO_SUCH_MESSAGE
            : { ok: true, text: serializeUidListing({ msg: command.msg, uid: info.uid }) },
        );
        return undefined;
      }
      return conn.replyLines(
        { ok: true, text: "unique-id listing follows" },
        [...mailbox.visible()].map(({ msg, info }) => serializeUidListing({ msg, uid: info.uid })),
      );
    case "RETR":
      return retrieve(conn, mailbox, command.msg, undefined);
    case "TOP":
      return retrieve(conn, mailbox, command.msg, new TopFilter(command.lines));
    case "DELE":
      conn.reply(
        mailbox.delete(command.msg)
          ? { ok: true, text: `message ${command.msg} deleted` }
          : NO_SUCH_MESSAGE,
      );
      return undefined;
    case "RSET": {
      mailbox.reset();
      const { count, size } = mailbox.stat();
      conn.reply({ ok: true, text: `maildrop has ${count} messages (${size} octets)` });
      return undefined;
    }
    case "NOOP":
      conn.reply({ ok: true, text: "" });
      return undefined;
    case "CAPA":
      conn.replyLines(
        { ok: true, text: "capability list follows" },
        serializeCapabilities(conn.capabilities()),
      );
      return undefined;
    case "LANG":
      answerLang(conn, command.tag);
      return undefined;
    case "QUIT":
      return update(conn, mailbox);
    default:
      conn.reply({ ok: false, text: "unknown command" });
      conn.countBadCommand();
      return undefined;
  }
}

/** RETR and TOP: the +OK goes out only once the store has produced the first bytes. */
async function retrieve(
  conn: Connection,
  mailbox: Mailbox,
  msg: number,
  top: TopFilter | undefined,
): Promise<void> {
  const started = performance.now();
  const info = mailbox.get(msg);
  if (info === undefined) {
    conn.reply(NO_SUCH_MESSAGE);
    return;
  }
  const abort = new AbortController();
  const iterator = mailbox.maildrop.read(msg - 1, abort.signal)[Symbol.asyncIterator]();
  let first: IteratorResult<Uint8Array>;
  try {
    first = await iterator.next();
  } catch (error) {
    conn.context.options.logger.error(
      { connection: conn.id, user: conn.user, msg, err: String(error) },
      "reading a message failed",
    );
    conn.reply({ ok: false, code: "SYS/TEMP", text: "message could not be read, try later" });
    return;
  }
  const reply = {
    ok: true,
    text: top === undefined ? `${info.size} octets` : "top of message follows",
  };
  let exhausted = false;
  try {
    const complete = await conn.sendBody(
      reply,
      withFirst(first, iterator, () => {
        exhausted = true;
      }),
      top,
      // TOP's length depends on the lines asked for; RETR's must be what LIST said.
      top === undefined ? info.size : undefined,
    );
    if (top === undefined && complete && !conn.closed) {
      observe(conn.context.options.observer, "onRetr", performance.now() - started, info.size);
    }
  } catch (error) {
    // The +OK and part of the body are out; no reply can follow. Drop the connection so the
    // client sees a truncated answer, and delete nothing.
    conn.context.options.logger.error(
      { connection: conn.id, user: conn.user, msg, err: String(error) },
      "message stream failed",
    );
    conn.terminate({ ok: false, code: "SYS/TEMP", text: "message stream failed" });
  } finally {
    // Stop a store that was not read to the end (TOP, a failure, a closed connection). A message
    // read to the end needs neither: aborting would only build a DOMException and dispatch an
    // abort event per RETR, which costs about as much as encoding a 10 KB message.
    if (!exhausted) {
      abort.abort();
      await iterator.return?.();
    }
  }
}

/** `first`, then the rest of the iterator; calls `onEnd` once the iterator says it is done. */
async function* withFirst(
  first: IteratorResult<Uint8Array>,
  rest: AsyncIterator<Uint8Array>,
  onEnd: () => void,
): AsyncGenerator<Uint8Array> {
  if (!first.done) {
    yield first.value;
    for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value;
  }
  onEnd();
}

/**
 * QUIT in TRANSACTION: the UPDATE state (RFC 1939 §6). +OK only after the store has made the
 * deletions durable; if it fails, -ERR [SYS/TEMP] and the maildrop is as it was before.
 */
async function update(conn: Connection, mailbox: Mailbox): Promise<void> {
  const { stats } = conn.context;
  const { logger } = conn.context.options;
  const uids = mailbox.deletedUids();
  let reply: StatusReply;
  try {
    if (uids.length > 0) await mailbox.maildrop.commit(uids);
    stats.updates += 1;
    stats.messagesDeleted += uids.length;
    logger.info({ connection: conn.id, user: conn.user, deleted: uids.length }, "update committed");
    const left = mailbox.stat().count;
    conn.outcome = "quit";
    reply = { ok: true, text: `bye, ${uids.length} deleted, ${left} left` };
  } catch (error) {
    logger.error({ connection: conn.id, user: conn.user, err: String(error) }, "update failed");
    conn.outcome = "update-failed";
    reply = { ok: false, code: "SYS/TEMP", text: "some deleted messages not removed" };
  } finally {
    await mailbox.maildrop.release().catch((error: unknown) => {
      logger.error({ connection: conn.id, err: String(error) }, "releasing the maildrop failed");
    });
  }
  // The answer goes out only once the lock is released: a client that logs in again as soon as
  // it reads +OK must find its maildrop free, not [IN-USE] (removing a Maildir lock file takes a
  // few file operations, long enough for a client on loopback to come back).
  conn.reply(reply);
  conn.end();
}
