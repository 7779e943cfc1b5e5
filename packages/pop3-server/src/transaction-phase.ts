import {
  type Pop3Command,
  type StatusReply,
  serializeDropListing,
  serializeScanListing,
  serializeUidListing,
  TopFilter,
} from "pop3-core";
import type { Mailbox } from "./mailbox";
import { observe, type SessionOutcome } from "./observer";
import type { PhaseHost } from "./phase-host";
import { answerCapa, answerLang, answerUnknown } from "./shared-commands";

const NO_SUCH_MESSAGE: StatusReply = { ok: false, text: "no such message" };
const EMPTY = new Uint8Array(0);

/**
 * The TRANSACTION state of one logged-in session (RFC 1939 §5) and QUIT's UPDATE (§6). It owns
 * the open maildrop (through `Mailbox`: numbers fixed at login, deletions only marked) and how
 * the session ends, which it reports to the observer when the connection closes.
 */
export class TransactionPhase {
  readonly #host: PhaseHost;
  readonly user: string;
  readonly #mailbox: Mailbox;
  /** How the session ended, once known (QUIT, the autologout timer); else it was dropped. */
  #outcome: SessionOutcome | undefined;
  /** Aborts a store read that RETR or TOP leaves unfinished (see `#readAbort`). */
  #abort: AbortController | undefined;

  constructor(host: PhaseHost, user: string, mailbox: Mailbox) {
    this.#host = host;
    this.user = user;
    this.#mailbox = mailbox;
  }

  /** Messages in the maildrop at login, for logs. */
  get messageCount(): number {
    return this.#mailbox.maildrop.messages.length;
  }

  /** Answers one command; a promise when the answer waits on the store or the client. */
  command(command: Pop3Command): Promise<void> | undefined {
    const host = this.#host;
    const mailbox = this.#mailbox;
    switch (command.name) {
      case "STAT":
        host.reply({ ok: true, text: serializeDropListing(mailbox.stat()) });
        return undefined;
      case "LIST":
        if (command.msg !== undefined) {
          const info = mailbox.get(command.msg);
          host.reply(
            info === undefined
              ? NO_SUCH_MESSAGE
              : { ok: true, text: serializeScanListing({ msg: command.msg, size: info.size }) },
          );
          return undefined;
        }
        return host.replyLines(
          { ok: true, text: `${mailbox.stat().count} messages` },
          [...mailbox.visible()].map(({ msg, info }) =>
            serializeScanListing({ msg, size: info.size }),
          ),
        );
      case "UIDL":
        if (command.msg !== undefined) {
          const info = mailbox.get(command.msg);
          host.reply(
            info === undefined
              ? NO_SUCH_MESSAGE
              : { ok: true, text: serializeUidListing({ msg: command.msg, uid: info.uid }) },
          );
          return undefined;
        }
        return host.replyLines(
          { ok: true, text: "unique-id listing follows" },
          [...mailbox.visible()].map(({ msg, info }) =>
            serializeUidListing({ msg, uid: info.uid }),
          ),
        );
      case "RETR":
        return this.#retrieve(command.msg, undefined);
      case "TOP":
        return this.#retrieve(command.msg, new TopFilter(command.lines));
      case "DELE":
        host.reply(
          mailbox.delete(command.msg)
            ? { ok: true, text: `message ${command.msg} deleted` }
            : NO_SUCH_MESSAGE,
        );
        return undefined;
      case "RSET": {
        mailbox.reset();
        const { count, size } = mailbox.stat();
        host.reply({ ok: true, text: `maildrop has ${count} messages (${size} octets)` });
        return undefined;
      }
      case "NOOP":
        host.reply({ ok: true, text: "" });
        return undefined;
      case "CAPA":
        answerCapa(host);
        return undefined;
      case "LANG":
        answerLang(host, command.tag);
        return undefined;
      case "QUIT":
        return this.#update();
      default:
        answerUnknown(host);
        return undefined;
    }
  }

  /** The autologout timer ended the session (RFC 1939 §3): no UPDATE, nothing deleted. */
  timedOut(): void {
    this.#outcome ??= "timeout";
  }

  /**
   * The connection is closed: reports how the session ended and releases the maildrop. A
   * session that did not reach UPDATE deletes nothing (RFC 1939 §6).
   */
  closed(): Promise<void> {
    observe(this.#host.context.options.observer, "onSessionEnd", this.#outcome ?? "dropped");
    return this.#mailbox.maildrop.release();
  }

  /**
   * RETR and TOP: the +OK goes out only once the store has produced the first bytes. A message
   * the store gives in one chunk (every small one) is encoded and queued in one synchronous step:
   * streaming it through an async generator cost more per RETR than encoding it.
   */
  async #retrieve(msg: number, top: TopFilter | undefined): Promise<void> {
    const host = this.#host;
    const { logger, observer } = host.context.options;
    const started = performance.now();
    const info = this.#mailbox.get(msg);
    if (info === undefined) {
      host.reply(NO_SUCH_MESSAGE);
      return;
    }
    const abort = this.#readAbort();
    const iterator = this.#mailbox.maildrop.read(msg - 1, abort.signal)[Symbol.asyncIterator]();
    let first: IteratorResult<Uint8Array>;
    try {
      first = await iterator.next();
    } catch (error) {
      logger.error(
        { connection: host.id, user: this.user, msg, err: String(error) },
        "reading a message failed",
      );
      host.reply({ ok: false, code: "SYS/TEMP", text: "message could not be read, try later" });
      return;
    }
    const reply = {
      ok: true,
      text: top === undefined ? `${info.size} octets` : "top of message follows",
    };
    // TOP's length depends on the lines asked for; RETR's must be what LIST said.
    const octets = top === undefined ? info.size : undefined;
    // Is there more? A failure here is thrown again where the streaming path awaits it, after
    // the +OK and the first chunk, as if it had come while streaming.
    const peek = first.done ? Promise.resolve(first) : iterator.next();
    const second = await peek.then(
      (result) => result,
      () => undefined,
    );
    let exhausted = second?.done === true;
    try {
      const complete = exhausted
        ? host.sendWholeBody(reply, first.done ? EMPTY : first.value, top, octets)
        : await host.sendBody(
            reply,
            withFirst(first, peek, iterator, () => {
              exhausted = true;
            }),
            top,
            octets,
          );
      if (top === undefined && complete && !host.closed) {
        observe(observer, "onRetr", performance.now() - started, info.size);
      }
    } catch (error) {
      // The +OK and part of the body are out; no reply can follow. Drop the connection so the
      // client sees a truncated answer, and delete nothing.
      logger.error(
        { connection: host.id, user: this.user, msg, err: String(error) },
        "message stream failed",
      );
      host.terminate({ ok: false, code: "SYS/TEMP", text: "message stream failed" });
    } finally {
      // Stop a store that was not read to the end (TOP, a failure, a closed connection). A
      // message read to the end needs neither: aborting would only build a DOMException and
      // dispatch an abort event per RETR, which costs about as much as encoding a 10 KB message.
      if (!exhausted) {
        abort.abort();
        this.#abort = undefined;
        await iterator.return?.();
      }
    }
  }

  /**
   * The signal of the store's reads: one per session, replaced once a read has been aborted.
   * A new AbortController per RETR cost more CPU than the read of a small message itself.
   */
  #readAbort(): AbortController {
    this.#abort ??= new AbortController();
    return this.#abort;
  }

  /**
   * QUIT: the UPDATE state (RFC 1939 §6). +OK only after the store has made the deletions
   * durable; if it fails, -ERR [SYS/TEMP] and the maildrop is as it was before.
   */
  async #update(): Promise<void> {
    const host = this.#host;
    const { stats } = host.context;
    const { logger } = host.context.options;
    const mailbox = this.#mailbox;
    const uids = mailbox.deletedUids();
    let reply: StatusReply;
    try {
      if (uids.length > 0) await mailbox.maildrop.commit(uids);
      stats.updates += 1;
      stats.messagesDeleted += uids.length;
      logger.info(
        { connection: host.id, user: this.user, deleted: uids.length },
        "update committed",
      );
      const left = mailbox.stat().count;
      this.#outcome = "quit";
      reply = { ok: true, text: `bye, ${uids.length} deleted, ${left} left` };
    } catch (error) {
      logger.error({ connection: host.id, user: this.user, err: String(error) }, "update failed");
      this.#outcome = "update-failed";
      reply = { ok: false, code: "SYS/TEMP", text: "some deleted messages not removed" };
    } finally {
      await mailbox.maildrop.release().catch((error: unknown) => {
        logger.error({ connection: host.id, err: String(error) }, "releasing the maildrop failed");
      });
    }
    // The answer goes out only once the lock is released: a client that logs in again as soon
    // as it reads +OK must find its maildrop free, not [IN-USE] (removing a Maildir lock file
    // takes a few file operations, long enough for a client on loopback to come back).
    host.reply(reply);
    host.end();
  }
}

/**
 * `first`, then what `second` resolves to, then the rest of the iterator; calls `onEnd` once the
 * iterator says it is done.
 */
async function* withFirst(
  first: IteratorResult<Uint8Array>,
  second: Promise<IteratorResult<Uint8Array>>,
  rest: AsyncIterator<Uint8Array>,
  onEnd: () => void,
): AsyncGenerator<Uint8Array> {
  if (!first.done) {
    yield first.value;
    for (let next = await second; !next.done; next = await rest.next()) yield next.value;
  }
  onEnd();
}
