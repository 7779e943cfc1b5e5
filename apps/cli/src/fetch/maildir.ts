import { link, open, readdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import { failpoint } from "./failpoint";
import { fsyncDir, makeDirDurably } from "./fsutil";
import { baseOf, MaildirNamer, withSize } from "./maildir-name";

/** Our files in `tmp/`: `pop3-fetch.<base>` (and `pop3.*` from earlier versions). */
const TMP_PREFIXES = ["pop3-fetch.", "pop3."];

/**
 * A Maildir written the safe way: a message goes to `tmp/`, is fsync'd, is linked into `new/`
 * under its conventional name (`time.M…P…Q….host,S=size`; see maildir-name.ts), `new/` is
 * fsync'd, and the `tmp/` name is removed. link(2), unlike rename(2), never replaces a file that
 * is already there.
 *
 * Telling whether a message is already here is the caller's business (the state names each
 * message's file); this class only answers whether a file with a given base name exists, in
 * `new/` or in `cur/` (where a mail reader moves it, adding `:2,flags`).
 */
export class Maildir {
  readonly root: string;
  /** Base names present in new/ and cur/. */
  readonly #bases: Set<string>;
  readonly #namer: MaildirNamer;

  private constructor(root: string, bases: Set<string>, namer: MaildirNamer) {
    this.root = root;
    this.#bases = bases;
    this.#namer = namer;
  }

  static async open(root: string, namer = new MaildirNamer()): Promise<Maildir> {
    for (const sub of ["tmp", "new", "cur"]) await makeDirDurably(join(root, sub));
    const bases = new Set<string>();
    for (const sub of ["new", "cur"]) {
      for (const name of await readdir(join(root, sub))) bases.add(baseOf(name));
    }
    // Leftovers of a download that was interrupted: ours only (we hold the lock).
    for (const name of await readdir(join(root, "tmp"))) {
      if (TMP_PREFIXES.some((prefix) => name.startsWith(prefix))) {
        await unlink(join(root, "tmp", name)).catch(() => {});
      }
    }
    return new Maildir(root, bases, namer);
  }

  /** Whether new/ or cur/ holds a file with this base name (flags and `,S=` ignored). */
  has(name: string): boolean {
    return this.#bases.has(baseOf(name));
  }

  /**
   * Stores a message durably. `beforeLink` is called with the final file name once the bytes
   * are durable in tmp/ and before the file appears in new/: the caller journals its intent
   * there (and may throw to give up). Returns the path relative to the Maildir and the size.
   */
  async store(
    chunks: AsyncIterable<Uint8Array>,
    onBytes: (received: number) => void,
    beforeLink: (file: string) => Promise<void>,
  ): Promise<{ file: string; name: string; size: number }> {
    const base = this.#namer.next();
    const temporary = join(this.root, "tmp", `${TMP_PREFIXES[0]}${base}`);
    const handle = await open(temporary, "wx", 0o600);
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
    const name = withSize(base, size);
    try {
      await beforeLink(name);
      await failpoint("maildir-intent");
      await link(temporary, join(this.root, "new", name));
    } catch (error) {
      await unlink(temporary).catch(() => {});
      throw error;
    }
    await fsyncDir(join(this.root, "new"));
    this.#bases.add(base);
    // The tmp/ name is no longer needed; a crash before this unlink leaves it for the next open.
    await unlink(temporary).catch(() => {});
    await failpoint("maildir-renamed");
    return { file: join("new", name), name, size };
  }
}
