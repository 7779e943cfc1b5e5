/**
 * A user file with hashed passwords, one `user:hash` per line:
 *
 * ```
 * # comments and blank lines are ignored
 * alice:scrypt$16384$8$1$<salt base64>$<key base64>
 * ```
 *
 * Hashes come from `hashPassword`. Because only hashes are stored, the authenticator has no
 * `getSharedSecret`: APOP and CRAM-MD5 are not offered with it.
 */
import { randomBytes } from "node:crypto";
import { type FileHandle, open, readFile, realpath, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import type { Secret } from "pop3-core";
import { BackendError, InvalidUserError } from "../errors";
import {
  dummyHash,
  hashPassword,
  type ParsedHash,
  parseHash,
  type ScryptParams,
  verifyParsedHash,
} from "./password-hash";
import type { AuthContext, Authenticator, AuthResult } from "./types";
import { userNameProblem } from "./user-name";

/**
 * The user file can not be used: a malformed line (with its 1-based `line` number), a duplicate
 * user, or bytes that are not UTF-8. A `BackendError` (`POP3_AUTH_BACKEND`, answered
 * `-ERR [SYS/TEMP]`). The message names the file and the line, never its content.
 */
export class UserFileError extends BackendError {
  readonly path: string;
  readonly line: number | undefined;

  constructor(path: string, line: number | undefined, reason: string) {
    super(
      "POP3_AUTH_BACKEND",
      `user file ${path}${line === undefined ? "" : `, line ${line}`}: ${reason}`,
    );
    this.name = "UserFileError";
    this.path = path;
    this.line = line;
  }
}

export interface UserFileOptions {
  /**
   * Check the file's modification time, size and inode on every login and reload it when they
   * changed. Default `true`; with `false` the file is read once, and again only on `reload()`.
   */
  readonly reloadOnChange?: boolean;
}

export interface UserFileAuthenticator extends Authenticator {
  /** Reads the file now (e.g. on SIGHUP). Rejects as a login would if it can not be used. */
  reload(): Promise<void>;
}

interface Entry {
  readonly user: string;
  /** 0-based index into the file's lines. */
  readonly index: number;
  readonly hash: ParsedHash;
}

interface Parsed {
  readonly entries: Map<string, Entry>;
  readonly lines: string[];
  readonly bom: boolean;
}

const BOM = "\uFEFF";
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function decode(bytes: Uint8Array, path: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new UserFileError(path, undefined, "the file is not valid UTF-8");
  }
}

/** Parses the whole file; any bad line rejects the whole file. */
function parseUserFile(text: string, path: string): Parsed {
  const bom = text.startsWith(BOM);
  const lines = (bom ? text.slice(1) : text).split("\n");
  const entries = new Map<string, Entry>();
  for (let index = 0; index < lines.length; index++) {
    const line = (lines[index] ?? "").trim();
    if (line.length === 0 || line.startsWith("#")) continue;
    const number = index + 1;
    const colon = line.indexOf(":");
    if (colon < 0) throw new UserFileError(path, number, "expected user:hash");
    const user = line.slice(0, colon);
    const problem = userNameProblem(user);
    if (problem !== undefined) throw new UserFileError(path, number, problem);
    const hash = parseHash(line.slice(colon + 1));
    if (typeof hash === "string") {
      throw new UserFileError(path, number, `malformed password hash: ${hash}`);
    }
    const previous = entries.get(user);
    if (previous !== undefined) {
      throw new UserFileError(path, number, `duplicate user (first on line ${previous.index + 1})`);
    }
    entries.set(user, { user, index, hash });
  }
  return { entries, lines, bom };
}

/** The parameters most entries use, so unknown users cost what known ones do. */
function typicalHash(entries: Map<string, Entry>): ParsedHash | undefined {
  const counts = new Map<string, { count: number; hash: ParsedHash }>();
  let best: { count: number; hash: ParsedHash } | undefined;
  for (const { hash } of entries.values()) {
    const key = `${hash.N}/${hash.r}/${hash.p}/${hash.salt.length}/${hash.key.length}`;
    const slot = counts.get(key) ?? { count: 0, hash };
    slot.count += 1;
    counts.set(key, slot);
    if (best === undefined || slot.count > best.count) best = slot;
  }
  return best?.hash;
}

function ioError(action: string, path: string, cause: unknown): BackendError {
  return new BackendError("POP3_AUTH_BACKEND", `cannot ${action} user file ${path}`, { cause });
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
}

interface Loaded {
  readonly version: string;
  readonly entries: Map<string, Entry>;
  readonly dummy: ParsedHash;
}

/**
 * An authenticator over a user file. The file is read on the first login, not here; with
 * `reloadOnChange` (the default) it is read again whenever it changed. A file that can not be
 * read is a `BackendError`, one that does not parse a `UserFileError`: every login then fails
 * with `-ERR [SYS/TEMP]` until the file is fixed, never with stale or partial data.
 *
 * User names are case-sensitive. An unknown user still costs one scrypt run against a dummy hash
 * with the file's usual parameters.
 */
export function userFile(path: string, options: UserFileOptions = {}): UserFileAuthenticator {
  const reloadOnChange = options.reloadOnChange ?? true;
  let loaded: Loaded | undefined;
  let pending: { version: string | undefined; promise: Promise<Loaded> } | undefined;

  const readVersioned = async (force: boolean): Promise<Loaded> => {
    let handle: FileHandle | undefined;
    try {
      handle = await open(path, "r");
      // Version and content come from the same open file, stat first: a change after the stat
      // gives a new version next time, so the cache can never keep stale content.
      const info = await handle.stat({ bigint: true });
      const version = `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
      if (!force && loaded?.version === version) return loaded;
      const bytes = await handle.readFile();
      const { entries } = parseUserFile(decode(bytes, path), path);
      return { version, entries, dummy: dummyHash(typicalHash(entries)) };
    } catch (error) {
      if (error instanceof UserFileError) throw error;
      throw ioError("read", path, error);
    } finally {
      await handle?.close().catch(() => undefined);
    }
  };

  const load = (version: string | undefined, force = false): Promise<Loaded> => {
    if (!force && pending !== undefined && pending.version === version) return pending.promise;
    const promise = readVersioned(force).then(
      (result) => {
        loaded = result;
        return result;
      },
      (error: unknown) => {
        // Never fall back to the previous contents: a broken edit may have meant to remove users.
        loaded = undefined;
        throw error;
      },
    );
    const mine = { version, promise };
    pending = mine;
    const clear = () => {
      if (pending === mine) pending = undefined;
    };
    promise.then(clear, clear);
    return promise;
  };

  const current = async (): Promise<Loaded> => {
    if (loaded !== undefined && !reloadOnChange) return loaded;
    if (loaded === undefined) return load(undefined);
    let version: string;
    try {
      const info = await stat(path, { bigint: true });
      version = `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
    } catch (error) {
      loaded = undefined;
      throw ioError("stat", path, error);
    }
    return version === loaded.version ? loaded : load(version);
  };

  return {
    async verifyPassword(
      user: string,
      password: Secret<string>,
      context: AuthContext,
    ): Promise<AuthResult> {
      const { entries, dummy } = await current();
      const entry = entries.get(user);
      const matches = await verifyParsedHash(password, entry?.hash ?? dummy, context.hashing);
      return matches && entry !== undefined ? { ok: true, user: entry.user } : { ok: false };
    },

    async reload(): Promise<void> {
      await load(undefined, true);
    },
  };
}

export interface AddUserOptions {
  /** scrypt parameters for the new hash; defaults to `DEFAULT_SCRYPT_PARAMS`. */
  readonly params?: Partial<ScryptParams>;
}

/** Writers to the same file in this process take turns (read-modify-write). */
const writers = new Map<string, Promise<unknown>>();

async function serialized<T>(key: string, task: () => Promise<T>): Promise<T> {
  const previous = writers.get(key) ?? Promise.resolve();
  const run = previous.then(task, task);
  const settled = run.then(
    () => undefined,
    () => undefined,
  );
  writers.set(key, settled);
  try {
    return await run;
  } finally {
    if (writers.get(key) === settled) writers.delete(key);
  }
}

/**
 * Sets `user`'s password in the user file: replaces the user's line in place, or appends one,
 * keeping every other line (comments included) as it was. Creates the file with mode 0600 if it
 * is missing; an existing file keeps its mode (and owner, where allowed). The new content goes to
 * a temporary file in the same directory, is fsynced, and renamed over the old one, so readers see
 * the old file or the new one, never a mix.
 *
 * Rejects with `InvalidUserError` for a user name with `:`, whitespace, control characters or a
 * leading `#`; `UserFileError` if the existing file does not parse (it is left alone);
 * `BackendError` for I/O failures. Writers in one process are serialised; writers in different
 * processes are not (last rename wins).
 */
export async function addUserToFile(
  path: string,
  user: string,
  password: string | Secret<string>,
  options: AddUserOptions = {},
): Promise<{ readonly replaced: boolean }> {
  const problem = userNameProblem(user);
  if (problem !== undefined) throw new InvalidUserError(`cannot add user: ${problem}`);
  const hash = await hashPassword(password, options.params);
  const target = await resolveTarget(path);
  return serialized(target, () => rewrite(target, user, hash));
}

/** Follows a symlink so that the rename replaces the real file, not the link. */
async function resolveTarget(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch (error) {
    if (isNotFound(error)) return resolve(path);
    throw ioError("resolve", path, error);
  }
}

async function rewrite(
  path: string,
  user: string,
  hash: string,
): Promise<{ readonly replaced: boolean }> {
  let text = "";
  let mode = 0o600;
  let owner: { uid: number; gid: number } | undefined;
  try {
    const bytes = await readFile(path);
    const info = await stat(path);
    text = decode(bytes, path);
    mode = info.mode & 0o777;
    owner = { uid: info.uid, gid: info.gid };
  } catch (error) {
    if (error instanceof UserFileError) throw error;
    if (!isNotFound(error)) throw ioError("read", path, error);
  }

  const { entries, lines, bom } = parseUserFile(text, path);
  const crlf = lines.some((line) => line.endsWith("\r"));
  const record = `${user}:${hash}`;
  const existing = entries.get(user);
  if (existing !== undefined) {
    const old = lines[existing.index] ?? "";
    lines[existing.index] = old.endsWith("\r") ? `${record}\r` : record;
  } else {
    // `lines` ends with "" when the file ends with a newline; insert before it.
    if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
    lines.push(crlf ? `${record}\r` : record, "");
  }
  const content = (bom ? BOM : "") + lines.join("\n");
  await writeAtomically(path, content, mode, owner);
  return { replaced: existing !== undefined };
}

async function writeAtomically(
  path: string,
  content: string,
  mode: number,
  owner: { uid: number; gid: number } | undefined,
): Promise<void> {
  const directory = dirname(path);
  const temporary = join(
    directory,
    `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`,
  );
  let handle: FileHandle | undefined;
  let created = false;
  try {
    handle = await open(temporary, "wx", 0o600);
    created = true;
    if (owner !== undefined) {
      // Keep the owner when we may (root editing a file the server user owns); else ignore.
      await handle.chown(owner.uid, owner.gid).catch(() => undefined);
    }
    await handle.chmod(mode);
    await handle.writeFile(content, "utf8");
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temporary, path);
    created = false;
  } catch (error) {
    await handle?.close().catch(() => undefined);
    if (created) await unlink(temporary).catch(() => undefined);
    throw ioError("write", path, error);
  }
  await syncDirectory(directory);
}

/** Makes the rename durable. Some platforms can not open or fsync a directory: best effort. */
async function syncDirectory(directory: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(directory, "r");
    await handle.sync();
  } catch {
    // EISDIR / EPERM / EINVAL on Windows and some filesystems: the rename itself has happened.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
