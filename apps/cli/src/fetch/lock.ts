import { randomBytes } from "node:crypto";
import { link, open, readFile, rename, stat, unlink } from "node:fs/promises";
import { CliError, EXIT } from "../errors";

export interface Lock {
  release(): Promise<void>;
}

/**
 * Lock files this process holds. A lock naming our own pid is ours only if it is in here; one
 * that is not was left by an earlier process that had the same pid (a container's pid 1, say).
 * Process-wide on purpose: the lock files are.
 */
const heldHere = new Set<string>();

/**
 * An exclusive lock file holding our pid, in the classic dotlock way, without an empty-lock
 * window: the pid is written and fsync'd to a private temporary file first, which is then
 * link(2)ed to the lock name. link fails with EEXIST when the lock exists, so the lock never
 * exists without its pid. A lock left by a process that no longer exists (killed with SIGKILL)
 * is taken over.
 */
export async function acquireLock(path: string, what: string): Promise<Lock> {
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString("hex")}`;
  const handle = await open(temporary, "wx", 0o600);
  try {
    await handle.writeFile(`${process.pid}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await link(temporary, path);
        heldHere.add(path);
        return { release: () => release(path) };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      const holder = await lockHolder(path);
      if (holder.kind === "busy") {
        throw new CliError(EXIT.LOCAL_IO, `${what} is in use: ${path} exists and is fresh`);
      }
      if (holder.kind === "here") {
        throw new CliError(
          EXIT.LOCAL_IO,
          `${what} is in use by an earlier fetch in this process that has not finished; lock file ${path}`,
        );
      }
      if (holder.kind === "live") {
        throw new CliError(
          EXIT.LOCAL_IO,
          `${what} is in use by another pop3 fetch (pid ${holder.pid}); lock file ${path}`,
        );
      }
      await takeOver(path, holder.text, what);
    }
    throw new CliError(EXIT.LOCAL_IO, `cannot take the lock ${path}`);
  } finally {
    await unlink(temporary).catch(() => {});
  }
}

async function release(path: string): Promise<void> {
  heldHere.delete(path);
  await unlink(path).catch(() => {});
}

type Holder =
  | { kind: "live"; pid: number }
  | { kind: "here" }
  | { kind: "busy" }
  | { kind: "stale"; text: string | undefined };

/**
 * Who holds the lock: a live process, this process, "busy" (a lock without a pid that is
 * fresh: another program's dotlock being written), or nobody any more ("stale").
 */
async function lockHolder(path: string): Promise<Holder> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return { kind: "stale", text: undefined };
  }
  const pid = Number.parseInt(text.trim(), 10);
  if (!Number.isInteger(pid) || pid <= 0) {
    // Not one of ours (ours always hold a pid): another program's, being written or left by a crash.
    const age = Date.now() - (await stat(path).catch(() => ({ mtimeMs: 0 }))).mtimeMs;
    return age < 10_000 ? { kind: "busy" } : { kind: "stale", text };
  }
  if (pid === process.pid) return heldHere.has(path) ? { kind: "here" } : { kind: "stale", text };
  try {
    process.kill(pid, 0);
    return { kind: "live", pid };
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
      ? { kind: "live", pid }
      : { kind: "stale", text };
  }
}

/**
 * Removes a stale lock, unless another process took it over meanwhile: the lock is moved aside
 * (atomically) and checked; if what was moved is not the stale lock that was judged, it is put
 * back (link fails rather than replace a lock that appeared since).
 */
async function takeOver(path: string, staleText: string | undefined, what: string): Promise<void> {
  if (staleText === undefined) return; // it was gone already
  const aside = `${path}.stale.${process.pid}.${randomBytes(6).toString("hex")}`;
  try {
    await rename(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  const moved = await readFile(aside, "utf8").catch(() => undefined);
  if (moved !== staleText) {
    await link(aside, path).catch(() => {});
    await unlink(aside).catch(() => {});
    throw new CliError(EXIT.LOCAL_IO, `${what} is in use: ${path} was just taken by another fetch`);
  }
  await unlink(aside).catch(() => {});
}
