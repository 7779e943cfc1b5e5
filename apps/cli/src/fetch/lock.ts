import { open, readFile, stat, unlink } from "node:fs/promises";
import { CliError, EXIT } from "../errors";

export interface Lock {
  release(): Promise<void>;
}

/**
 * An exclusive lock file holding our pid (O_EXCL create, as mbox dotlocks do). A lock left by a
 * process that no longer exists (killed with SIGKILL, say) is taken over.
 */
export async function acquireLock(path: string, what: string): Promise<Lock> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(path, "wx", 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.sync();
      await handle.close();
      return {
        release: async () => {
          await unlink(path).catch(() => {});
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holder = await lockHolder(path);
    if (holder === "busy") {
      throw new CliError(EXIT.LOCAL_IO, `${what} is in use: ${path} exists and is fresh`);
    }
    if (typeof holder === "number") {
      throw new CliError(
        EXIT.LOCAL_IO,
        `${what} is in use by another pop3 fetch (pid ${holder}); lock file ${path}`,
      );
    }
    // Stale: the holder is gone. Remove and try again.
    await unlink(path).catch(() => {});
  }
  throw new CliError(EXIT.LOCAL_IO, `cannot take the lock ${path}`);
}

/** A live holder's pid, "busy" for a fresh lock without a pid yet, or "stale". */
async function lockHolder(path: string): Promise<number | "busy" | "stale"> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return "stale";
  }
  const pid = Number.parseInt(text.trim(), 10);
  if (!Number.isInteger(pid) || pid <= 0) {
    // Being written right now, or left empty by a crash: judge by age.
    const age = Date.now() - (await stat(path).catch(() => ({ mtimeMs: 0 }))).mtimeMs;
    return age < 10_000 ? "busy" : "stale";
  }
  if (pid === process.pid) return "stale";
  try {
    process.kill(pid, 0);
    return pid;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM" ? pid : "stale";
  }
}
