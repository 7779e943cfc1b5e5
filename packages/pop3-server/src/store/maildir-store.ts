import type { BigIntStats } from "node:fs";
import * as fsp from "node:fs/promises";
import { hostname } from "node:os";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { BackendError, InvalidUserError } from "../errors";
import { errorCode, UnsafeMaildropError } from "./common";
import { IndexCache } from "./maildir-index";
import { asyncIo, type MaildirIo, syncIo } from "./maildir-io";
import { MaildirLock } from "./maildir-lock";
import { asBackendError, MaildirMaildrop, syncDirectory } from "./maildir-maildrop";
import { assertSafeUserName } from "./maildir-names";
import { scan } from "./maildir-scan";
import type { Maildrop, MailStore } from "./types";

/** Counts deliveries in this process, for unique Maildir names. */
let deliveries = 0;

/** The lock file's name, in the Maildir's top directory. */
export const MAILDIR_LOCK_FILE = "pop3.lock";
/** Default `lockStaleMs`: 30 minutes. */
export const DEFAULT_LOCK_STALE_MS = 30 * 60 * 1000;
/** Default `indexMessages`: about 10 to 20 MB of names and sizes. */
export const DEFAULT_INDEX_MESSAGES = 100_000;
/** A Maildir's subdirectories. */
const SUBDIRS = ["cur", "new", "tmp"] as const;

export interface MaildirStoreOptions {
  /** The mail root. Every user's Maildir must resolve inside it. */
  readonly root: string;
  /**
   * The path of `user`'s Maildir; a relative path is taken from `root`. It must resolve inside
   * `root` (not to `root` itself), or the user is refused with `InvalidUserError`. Default:
   * `<root>/<user>/Maildir`. The user name has already passed the safety checks when it is called.
   */
  readonly layout?: (user: string) => string;
  /**
   * Create a missing Maildir (with `cur/`, `new/` and `tmp/`) on first open. Default `true`.
   * When `false`, opening a user without a Maildir rejects with `BackendError`.
   */
  readonly createMissing?: boolean;
  /**
   * A lock whose file was not refreshed for this long is stale and may be taken over. The
   * holder refreshes it every third of this. Default 30 minutes.
   */
  readonly lockStaleMs?: number;
  /**
   * Make file-system calls at once on the event loop's thread (default `true`), or through
   * libuv's thread pool (`false`). A Maildir in the page cache answers each call in
   * microseconds, several times less CPU than a trip through the thread pool, and a session
   * makes hundreds. Turn it off when calls may wait for the disk or the network (NFS, mail
   * mostly not in memory): a call that waits then stalls only a pool thread, not every session
   * of the process. `fsync` always goes through the thread pool.
   */
  readonly syncIo?: boolean;
  /**
   * How many messages' names and sizes the store keeps in memory between sessions, over all
   * Maildirs (least recently used Maildirs dropped first): a login whose `cur/` and `new/`
   * have not changed since the last one lists nothing and looks at no file. Default 100,000
   * (some 10–20 MB). 0 keeps nothing: each login lists the Maildir and checks every size
   * against `pop3-sizes.json` with a `stat` per message.
   */
  readonly indexMessages?: number;
}

/**
 * A `MailStore` on Maildirs, safe to share with an MTA and Dovecot.
 *
 * Opening a maildrop takes the lock file `pop3.lock` (see `MaildirLock`), moves every message of
 * `new/` to `cur/` with the `:2,` info, and fixes the snapshot: the messages of `cur/` in delivery
 * order (see `compareMaildirBases`). Files whose name starts with `.`, and anything that is not a
 * regular file (directories, symlinks), are ignored; `tmp/` is never touched. Mail delivered
 * during the session appears in the next one.
 *
 * - The uid is the base name (before `:`) when it is a valid uid, else its MD5 in hex
 *   (`maildirUid`): stable across flag renames and restarts.
 * - The size is Dovecot's `,W=` from the base name when present (the file is not read), else it
 *   is computed by reading the file once, and remembered: in memory by base name (see
 *   `MaildropIndex`, and `indexMessages`), and in `pop3-sizes.json` keyed by base name, mtime
 *   and length for other processes and restarts.
 * - A login whose `cur/` and `new/` are unchanged since an earlier login (same inode, mtime and
 *   ctime, to the nanosecond, and already 2 s old when that login listed them) reuses its
 *   listing. A message changed in place behind the store's back is noticed when it is read
 *   (its length or mtime differs): its size is measured again at the next login, and the server
 *   drops a RETR whose octets differ from those announced.
 * - `commit` unlinks the files (found again by base name if their flags changed; already gone is
 *   fine) and fsyncs `cur/` before it resolves; then the lock is released.
 *
 * Symbolic links never lead out of a Maildir. Every directory below the root down to `cur/`,
 * `new/` and `tmp/` must be a real directory: a link there could lead into another user's
 * Maildir or out of the root, so the login is refused with `UnsafeMaildropError` (the root
 * itself may be a link: it is the operator's). This is checked at every login and again before
 * `commit` unlinks anything. Messages are opened with `O_NOFOLLOW` and must be regular files
 * (`fstat`), so a message replaced by a link after the login is not read. A message name
 * replaced by a link is unlinked as a name: the link goes, never its target.
 */
export class MaildirStore implements MailStore {
  readonly root: string;
  readonly #layout: ((user: string) => string) | undefined;
  readonly #createMissing: boolean;
  readonly #lockStaleMs: number;
  readonly #io: MaildirIo;
  readonly #indexes: IndexCache;

  constructor(options: MaildirStoreOptions) {
    if (typeof options.root !== "string" || options.root.length === 0) {
      throw new TypeError("MaildirStore: root must be a non-empty path");
    }
    const staleMs = options.lockStaleMs ?? DEFAULT_LOCK_STALE_MS;
    if (!Number.isFinite(staleMs) || staleMs <= 0) {
      throw new RangeError("MaildirStore: lockStaleMs must be a positive number");
    }
    const indexMessages = options.indexMessages ?? DEFAULT_INDEX_MESSAGES;
    if (!Number.isSafeInteger(indexMessages) || indexMessages < 0) {
      throw new RangeError("MaildirStore: indexMessages must be an integer >= 0");
    }
    this.root = resolve(options.root);
    this.#layout = options.layout;
    this.#createMissing = options.createMissing ?? true;
    this.#lockStaleMs = staleMs;
    this.#io = options.syncIo === false ? asyncIo : syncIo;
    this.#indexes = new IndexCache(indexMessages);
  }

  /**
   * The absolute path of `user`'s Maildir. Throws `InvalidUserError` for a name that could
   * escape the root (see `assertSafeUserName`) or a layout that resolves outside it.
   */
  maildirPath(user: string): string {
    assertSafeUserName(user);
    let chosen: string;
    try {
      chosen = this.#layout === undefined ? join(user, "Maildir") : this.#layout(user);
    } catch (error) {
      if (error instanceof InvalidUserError) throw error;
      throw new BackendError("POP3_STORE", "the Maildir layout failed", { cause: error });
    }
    const dir = resolve(this.root, chosen);
    const rel = relative(this.root, dir);
    if (rel === "" || rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
      throw new InvalidUserError("the user's maildrop would be outside the mail root");
    }
    return dir;
  }

  async openMaildrop(user: string, signal?: AbortSignal): Promise<Maildrop> {
    signal?.throwIfAborted();
    const dir = this.maildirPath(user);
    const startedMs = Date.now();
    let lock: MaildirLock;
    let tree: Map<string, BigIntStats>;
    try {
      tree = await this.#prepare(dir, false);
      lock = await MaildirLock.acquire(this.#io, join(dir, MAILDIR_LOCK_FILE), this.#lockStaleMs);
    } catch (error) {
      throw asBackendError(error, "the maildrop could not be opened");
    }
    try {
      signal?.throwIfAborted();
      const index = this.#indexes.get(dir);
      const cur = tree.get(join(dir, "cur"));
      const fresh = tree.get(join(dir, "new"));
      if (cur === undefined || fresh === undefined) throw new Error("cur/ or new/ vanished");
      const listing = await scan(this.#io, { dir, cur, new: fresh, startedMs }, index, signal);
      this.#indexes.keep(dir, index);
      signal?.throwIfAborted();
      return new MaildirMaildrop({
        io: this.#io,
        dir,
        listing,
        index,
        lock,
        checkTree: async () => {
          await lstatTree(this.#io, this.root, dir, ["cur"]);
        },
      });
    } catch (error) {
      await lock.release();
      if (signal?.aborted) throw signal.reason;
      throw asBackendError(error, "the maildrop could not be read");
    }
  }

  /**
   * Delivers a message into `user`'s Maildir the way an MTA does: write to `tmp/`, fsync, rename
   * into `new/`, fsync `new/`. The message is stored as given (any line ends). Sessions open now
   * see it from their next login. Returns the file's path. If it fails before the rename (a full
   * disk), nothing is left in `tmp/`; once renamed the message is delivered, even if the fsync of
   * `new/` then fails (that is reported, and a retry may deliver it twice, as with any MTA).
   */
  async deliver(user: string, message: Uint8Array | string): Promise<string> {
    const dir = this.maildirPath(user);
    await this.#prepare(dir, true);
    deliveries += 1;
    const now = Date.now();
    const unique = `${Math.floor(now / 1000)}.M${(now % 1000) * 1000}P${process.pid}Q${deliveries}.${hostname().replace(/[/:]/g, "_")}`;
    const temporary = join(dir, "tmp", unique);
    const target = join(dir, "new", unique);
    const handle = await fsp.open(temporary, "wx", 0o600);
    try {
      try {
        await handle.writeFile(message);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fsp.rename(temporary, target);
    } catch (error) {
      // A partial file would stay in tmp/ for ever (no MDA cleans up after another one).
      await fsp.unlink(temporary).catch(() => {});
      throw error;
    }
    await syncDirectory(asyncIo, join(dir, "new"));
    return target;
  }

  /**
   * Checks the directories down to `dir`'s `cur/`, `new/` and `tmp/` (see the class comment),
   * creating missing ones when `createMissing` is on. Otherwise a missing one means no Maildir,
   * except `tmp/` when `needTmp` is false (only deliveries write there). Returns each
   * directory's `lstat` by path.
   */
  async #prepare(dir: string, needTmp: boolean): Promise<Map<string, BigIntStats>> {
    const tmp = join(dir, "tmp");
    const tree = await lstatTree(this.#io, this.root, dir, SUBDIRS);
    let created = false;
    for (const [path, stats] of tree) {
      if (stats?.isDirectory()) continue;
      if (stats !== undefined) throw notADirectory(this.root, path);
      if (this.#createMissing) {
        await fsp.mkdir(this.root, { recursive: true });
        await makeDirectory(this.#io, this.root, path);
        created = true;
      } else if (needTmp || path !== tmp) {
        throw new BackendError("POP3_STORE", "the user has no Maildir (createMissing is off)");
      }
    }
    if (!created) return tree as Map<string, BigIntStats>;
    return (await lstatTree(this.#io, this.root, dir, SUBDIRS)) as Map<string, BigIntStats>;
  }
}

/**
 * Every directory from the first below `root` down to `dir`, then `dir`'s `subs`, with its
 * `lstat` (undefined if missing). Throws `UnsafeMaildropError` if one of them is a symbolic link.
 */
async function lstatTree(
  io: MaildirIo,
  root: string,
  dir: string,
  subs: readonly string[],
): Promise<Map<string, BigIntStats | undefined>> {
  const paths: string[] = [];
  let path = root;
  for (const part of relative(root, dir).split(sep)) {
    path = join(path, part);
    paths.push(path);
  }
  for (const sub of subs) paths.push(join(dir, sub));
  const stats = await Promise.all(paths.map((p) => io.lstat(p)));
  const tree = new Map<string, BigIntStats | undefined>();
  paths.forEach((p, i) => {
    if (stats[i]?.isSymbolicLink()) {
      throw new UnsafeMaildropError(`${relative(root, p)} is a symbolic link`);
    }
    tree.set(p, stats[i]);
  });
  return tree;
}

/** Makes the directory `path`, whose parent exists; one made meanwhile must be a real one. */
async function makeDirectory(io: MaildirIo, root: string, path: string): Promise<void> {
  try {
    await io.mkdir(path, 0o700);
  } catch (error) {
    if (errorCode(error) !== "EEXIST") throw error;
    const stats = await io.lstat(path);
    if (stats?.isSymbolicLink()) {
      throw new UnsafeMaildropError(`${relative(root, path)} is a symbolic link`);
    }
    if (!stats?.isDirectory()) throw notADirectory(root, path);
  }
}

function notADirectory(root: string, path: string): BackendError {
  return new BackendError("POP3_STORE", `${relative(root, path)} is not a directory`);
}
