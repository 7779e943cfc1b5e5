import { mkdir, open, readFile, rename, unlink } from "node:fs/promises";
import { dirname } from "node:path";

/** fsync a directory, so that names created, renamed or removed in it survive a crash. */
export async function fsyncDir(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** `mkdir -p`, then fsync the parent of every directory it created. */
export async function makeDirDurably(path: string): Promise<void> {
  const first = await mkdir(path, { recursive: true, mode: 0o700 });
  if (first === undefined) return;
  // Every directory from `first` down to `path` is new: sync each one's parent.
  const created: string[] = [];
  for (let dir = path; dir.length >= first.length; dir = dirname(dir)) {
    created.push(dir);
    if (dir === first) break;
  }
  for (const dir of created) await fsyncDir(dirname(dir));
}

/** Replaces a file atomically: write aside, fsync, rename over, fsync the directory. */
export async function writeFileDurably(path: string, data: string | Uint8Array): Promise<void> {
  const temporary = `${path}.tmp-${process.pid}`;
  const handle = await open(temporary, "w", 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => {});
    await unlink(temporary).catch(() => {});
    throw error;
  }
  await handle.close();
  await rename(temporary, path);
  await fsyncDir(dirname(path));
}

/** The file's text, or undefined when it does not exist. */
export async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}
