import type { ClientEvent, Pop3Command } from "pop3-core";

/**
 * One command on its way through the channel: queued, then sent (as the context of its command in
 * core's `ClientSession`), then answered. The session decides where an answer ends, so an
 * operation whose caller has given up (aborted) is still read to its end, and the bytes of its
 * answer are never taken for the next reply.
 */
export interface Operation {
  readonly command: Pop3Command;
  /** For an unknown command: whether its +OK is followed by a multi-line body. */
  readonly multiline?: boolean;
  /** Secret-free text for traces and errors. */
  readonly label: string;
  /** Receives the events of this command's answer, unless abandoned. */
  onEvent(event: ClientEvent<Operation>): void;
  /** The command could not complete (connection lost, timeout, local refusal). */
  onError(error: Error): void;
  /** The caller no longer wants the answer; it is still read and dropped. */
  abandoned: boolean;
}
