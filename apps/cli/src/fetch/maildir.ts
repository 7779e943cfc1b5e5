import { createHash } from "node:crypto";
import { open, readdir, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { failpoint } from "./failpoint";
import { fsyncDir, makeDirDurably } from "./fsutil";

const PREFIX = "pop3.";

/**
 * A Maildir written the safe way: a message goes to `tmp/`, is fsync'd, renamed into `new/`, and
 * `new/` is fsync'd. Its file name is derived from the account and the UID only, so storing the
 * same message again finds it (in `new/`, or in `cur/` once a mail reader moved it) instead of
 * making a second copy.
 */
export class Maildir {
  readonly root: string;
  /** Base names (before `:2,flags`) present in new/ and cur/. */
  readonly #names: Set<string>;

  private constructor(root: string, names: Set<string>) {
    this.root = root;
    this.#names = names;
  }

  static async open(root: string): Promise<Maildir> {
    for (const sub of ["tmp", "new", "cur"]) await makeDirDurably(join(root, sub));
    const names = new Set<string>();
    for (const sub of ["new", "cur"]) {
      for (const name of await readdir(join(root, sub))) names.add(baseName(name));
    }
    // Leftovers of a download that was interrupted: ours only (we hold the lock).
    for (const name of await readdir(join(root, "tmp"))) {
      if (name.startsWith(PREFIX)) await unlink(join(root, "tmp", name)).catch(() => {});
    }
    return new Maildir(root, names);
  }

  /** The deterministic unique part of the file name for a message. */
  static nameFor(host: string, user: string, uid: string): string {
    const hash = createHash("sha256").update(`pop3-cli\0${host}\0${user}\0${uid}`).digest("hex");
    return `${PREFIX}${hash.slice(0, 40)}`;
  }

  has(name: string): boolean {
    return this.#names.has(name);
  }

  /** Stores a message durably; returns its path relative to the Maildir and its size. */
  async store(
    name: string,
    chunks: AsyncIterable<Uint8Array>,
    onBytes: (received: number) => void,
  ): Promise<{ file: string; size: number }> {
    const temporary = join(this.root, "tmp", name);
    const handle = await open(temporary, "w", 0o600);
    let size = 0;
    try {
      for await (const chunk of chunks) {
        await handle.write(chunk);
        size += chunk.length;
        onBytes(size);
      }
      await handle.sync();
    } catch (error) {
      await handle.close().catch(() => {});
      await unlink(temporary).catch(() => {});
      throw error;
    }
    await handle.close();
    await failpoint("maildir-tmp-written");
    await rename(temporary, join(this.root, "new", name));
    await fsyncDir(join(this.root, "new"));
    this.#names.add(name);
    await failpoint("maildir-renamed");
    return { file: join("new", name), size };
  }
}

/** `name:2,S` (or `name!2,S` on some systems) → `name`. */
function baseName(name: string): string {
  const cut = name.search(/[:!;]/);
  return cut === -1 ? name : name.slice(0, cut);
}
