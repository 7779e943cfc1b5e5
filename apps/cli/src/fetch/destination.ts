import type { MessageStream } from "pop3-client";
import { Maildir } from "./maildir";
import { legacyName, sizeOf } from "./maildir-name";
import { Mbox, scanMarkers } from "./mbox";
import { mdaEnvironment, pipeToMda } from "./mda";
import type { Location } from "./options";
import type { FetchState, StoredMessage } from "./state";

/** Where a message went: shown in the `stored` event, and what the state records. */
export interface Delivered {
  /** The Maildir file (relative), `mbox@offset`, or `mda`. */
  readonly location: string;
  /** Octets received from the server. */
  readonly size: number;
  /** mbox: the file's length after the message. */
  readonly end?: number;
  /** Maildir: the file name in new/. */
  readonly file?: string;
}

/** A message to deliver, and what delivering it may call on. */
export interface Delivery {
  readonly uid: string;
  /** The size LIST gave. */
  readonly size: number;
  readonly stream: MessageStream;
  readonly onBytes: (received: number) => void;
  /** Throws when the run was cut: called before anything becomes visible in the destination. */
  readonly proceed: () => void;
  readonly cut: AbortSignal;
}

export interface Destination {
  readonly kind: Location["kind"];
  /** Holds the message though the state may not say so (or `--all` ignores the state). */
  holds(uid: string, record: StoredMessage | undefined): boolean;
  /** The record of a message found by `holds` but not in the state. */
  adopted(uid: string): Partial<StoredMessage>;
  deliver(delivery: Delivery): Promise<Delivered>;
  close(): Promise<void>;
}

export interface DestinationContext {
  readonly location: Location;
  readonly state: FetchState;
  /** `user@host`. */
  readonly account: string;
  readonly host: string;
  readonly user: string;
  readonly mdaTimeoutMs: number;
  /** mbox recovery and Maildir intents: what was found and done. */
  readonly note: (message: string) => void;
  readonly warn: (message: string) => void;
}

/** Opens the destination and brings the state up to date with it (recovery), then `begin`s it. */
export async function openDestination(context: DestinationContext): Promise<Destination> {
  const { location, state } = context;
  if (location.kind === "maildir") {
    const maildir = await Maildir.open(location.target);
    state.settleIntents(
      (file) => maildir.has(file),
      (file) => sizeOf(file) ?? 0,
    );
    await state.begin();
    return maildirDestination(maildir, context);
  }
  if (location.kind === "mbox") {
    if (!state.existed) {
      // No state: learn what the file already holds from its X-POP3-UIDL markers.
      for (const found of await scanMarkers(location.target)) {
        state.adopt({ account: found.account, uid: found.uid, size: 0, at: now() });
      }
    }
    const { mbox, recovery } = await Mbox.open(location.target, state.mboxLength);
    const where = location.target;
    if (recovery.action === "truncated") {
      context.note(
        `${where}: removed ${recovery.bytes} bytes of a message that an interrupted run had not finished`,
      );
    } else if (recovery.action === "adopted-foreign-tail") {
      context.warn(
        `${where}: ${recovery.bytes} bytes were added by another program since the last fetch; keeping them`,
      );
    } else if (recovery.action === "shrunk") {
      context.warn(
        `${where} is ${recovery.bytes} bytes shorter than after the last fetch (edited by a mail program?)`,
      );
    }
    await state.begin(mbox.length);
    return mboxDestination(mbox, context);
  }
  await state.begin();
  return mdaDestination(context);
}

function maildirDestination(maildir: Maildir, context: DestinationContext): Destination {
  const { state, account, host, user } = context;
  return {
    kind: "maildir",
    holds: (uid, record) =>
      maildir.has(legacyName(host, user, uid)) ||
      (record?.file !== undefined && maildir.has(record.file)),
    adopted: (uid) => ({ file: legacyName(host, user, uid) }),
    deliver: async ({ uid, stream, onBytes, proceed }) => {
      const result = await maildir.store(stream, onBytes, async (file) => {
        proceed();
        await state.intend({ account, uid, file });
      });
      return { location: result.file, size: result.size, file: result.name };
    },
    close: async () => {},
  };
}

function mboxDestination(mbox: Mbox, context: DestinationContext): Destination {
  return {
    kind: "mbox",
    holds: () => false,
    adopted: () => ({}),
    deliver: async ({ uid, stream, onBytes }) => {
      const result = await mbox.append(uid, context.account, stream, onBytes);
      return { location: `${mbox.path}@${result.start}`, size: result.size, end: result.end };
    },
    close: () => mbox.close(),
  };
}

function mdaDestination(context: DestinationContext): Destination {
  const command = context.location.target;
  return {
    kind: "mda",
    holds: () => false,
    adopted: () => ({}),
    deliver: async ({ uid, size, stream, onBytes, proceed, cut }) => {
      proceed();
      const received = await pipeToMda(stream, {
        command,
        env: mdaEnvironment(process.env, { account: context.account, uid, size }),
        timeoutMs: context.mdaTimeoutMs,
        onBytes,
        cut,
      });
      return { location: "mda", size: received };
    },
    close: async () => {},
  };
}

function now(): string {
  return new Date().toISOString();
}
