import { mkdir, open, readFile, rename, stat, unlink } from "node:fs/promises";
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

/**
 * `mkdir -p`, then fsync the parent of every directory it created.
 *
 * Not `mkdir(path, { recursive: true })`: Node 20's recursive mkdir loops for ever, at 100 % CPU,
 * when a directory exists but refuses to hold a new one with ENOENT (under /proc, or a FUSE mount
 * whose daemon misbehaves): it retries the child, gets ENOENT, retries the parent, gets EEXIST,
 * and so on. Here each level is created once, from the deepest existing ancestor down, and the
 * first error is the answer.
 */
export async function makeDirDurably(path: string): Promise<void> {
  const missing: string[] = [];
  let dir = path;
  for (;;) {
    try {
      if (!(await stat(dir)).isDirectory()) throw notADirectory(dir);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    missing.push(dir);
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  const created: string[] = [];
  for (const each of missing.reverse()) {
    try {
      await mkdir(each, { mode: 0o700 });
      created.push(each);
    } catch (error) {
      // Made by someone else meanwhile: fine if it is a directory.
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      if (!(await stat(each)).isDirectory()) throw notADirectory(each);
    }
  }
  for (const each of created) await fsyncDir(dirname(each));
}

function notADirectory(path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${path}'`), {
    code: "ENOTDIR",
    syscall: "mkdir",
    path,
  });
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
