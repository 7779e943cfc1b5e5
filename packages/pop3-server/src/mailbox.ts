import type { Maildrop, MessageInfo } from "./store/types";

/**
 * One session's view of a maildrop in the TRANSACTION state (RFC 1939 §5): message numbers fixed
 * at login, deletions only marked until UPDATE. A deleted message is invisible to STAT, LIST and
 * UIDL and is "no such message" when named.
 */
export class Mailbox {
  readonly maildrop: Maildrop;
  readonly #deleted = new Set<number>();

  constructor(maildrop: Maildrop) {
    this.maildrop = maildrop;
  }

  /** The message with 1-based number `msg`, unless it does not exist or is marked deleted. */
  get(msg: number): MessageInfo | undefined {
    if (this.#deleted.has(msg)) return undefined;
    return this.maildrop.messages[msg - 1];
  }

  /** Visible messages with their numbers, in order. */
  *visible(): Generator<{ readonly msg: number; readonly info: MessageInfo }> {
    const messages = this.maildrop.messages;
    for (let i = 0; i < messages.length; i++) {
      const msg = i + 1;
      if (!this.#deleted.has(msg)) yield { msg, info: messages[i] as MessageInfo };
    }
  }

  stat(): { count: number; size: number } {
    let count = 0;
    let size = 0;
    for (const { info } of this.visible()) {
      count += 1;
      size += info.size;
    }
    return { count, size };
  }

  /** Marks `msg` deleted; false when there is no such (visible) message. */
  delete(msg: number): boolean {
    if (this.get(msg) === undefined) return false;
    this.#deleted.add(msg);
    return true;
  }

  reset(): void {
    this.#deleted.clear();
  }

  get deletedCount(): number {
    return this.#deleted.size;
  }

  deletedUids(): string[] {
    return [...this.#deleted]
      .sort((a, b) => a - b)
      .map((msg) => this.maildrop.messages[msg - 1]?.uid as string);
  }
}
