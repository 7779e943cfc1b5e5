import type { DeletePolicy } from "./options";
import type { StoredMessage } from "./state";

/** What a run does with one message on the server, decided before the first download. */
export interface PlanItem {
  readonly msg: number;
  readonly uid: string;
  /** The size LIST gave. */
  readonly size: number;
  readonly action: "fetch" | "stored" | "too-large" | "limit";
  /** Stored: found in the destination but not in the state (record it). */
  readonly adopt?: boolean;
  /** Stored: when the destination first recorded it (ISO 8601); undefined when adopted now. */
  readonly storedAt?: string;
}

/** What the run knows of a UID: its record in the state, and whether the destination holds it. */
export interface Known {
  readonly record: StoredMessage | undefined;
  /** The destination has the message whatever the state says (a Maildir file still there). */
  readonly here: boolean;
}

/**
 * The plan, in message order: each message is stored already (by the state, unless `all`; or
 * because the destination holds it), too large, beyond the limit, or to be fetched.
 */
export function makePlan(
  listing: readonly { msg: number; size: number }[],
  uids: readonly { msg: number; uid: string }[],
  known: (uid: string) => Known,
  options: { all?: boolean; maxSize?: number; limit?: number },
): PlanItem[] {
  const sizes = new Map(listing.map((l) => [l.msg, l.size]));
  const plan: PlanItem[] = [];
  let fetching = 0;
  for (const { msg, uid } of [...uids].sort((a, b) => a.msg - b.msg)) {
    const size = sizes.get(msg) ?? 0;
    const { record, here } = known(uid);
    if ((record !== undefined && options.all !== true) || here) {
      plan.push({
        msg,
        uid,
        size,
        action: "stored",
        adopt: record === undefined,
        ...(record === undefined ? {} : { storedAt: record.at }),
      });
    } else if (options.maxSize !== undefined && size > options.maxSize) {
      plan.push({ msg, uid, size, action: "too-large" });
    } else if (options.limit !== undefined && fetching >= options.limit) {
      plan.push({ msg, uid, size, action: "limit" });
    } else {
      fetching += 1;
      plan.push({ msg, uid, size, action: "fetch" });
    }
  }
  return plan;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Whether a stored message is to be deleted from the server now. `storedAt` is when the
 * destination first recorded it (now, for a message stored or adopted in this run).
 */
export function shouldDelete(
  policy: DeletePolicy,
  storedAt: string | undefined,
  now: number,
): boolean {
  if (policy.kind === "keep") return false;
  if (policy.kind === "delete") return true;
  const since = storedAt === undefined ? now : Date.parse(storedAt);
  // An unreadable date never counts as old: keeping a message is the safe side.
  return Number.isFinite(since) && now - since >= policy.days * DAY_MS;
}
