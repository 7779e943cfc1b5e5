import { rfcOctetSize } from "pop3-core";
import { describe, expect, it } from "vitest";
import { BackendError, MaildropInUseError } from "../../src/errors";
import { isValidUid, MAX_READ_CHUNK } from "../../src/store/common";
import type { Maildrop, MailStore } from "../../src/store/types";

/** Puts a message into `user`'s maildrop the way the backend's delivery would. */
export type AddMessage<S extends MailStore> = (
  store: S,
  user: string,
  bytes: Uint8Array,
) => Promise<void> | void;

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Messages whose RFC size differs from their stored size in every way a store can get wrong. */
export const SAMPLES: Readonly<Record<string, Uint8Array>> = {
  "lines beginning with a dot": text("Subject: dots\r\n\r\n.leading\r\n..two\r\nend\r\n"),
  "a line that is just a dot": text("Subject: dot\r\n\r\nbefore\r\n.\r\nafter\r\n"),
  "bare LF line ends": text("Subject: lf\n\nline one\nline two\n\n.dot\n"),
  "bare CR line ends": text("Subject: cr\r\rbody\r"),
  "no final line end": text("Subject: open\r\n\r\nno final line end"),
  "NUL and 8-bit bytes": Uint8Array.from([
    ...text("Subject: bin\r\n\r\n"),
    0x00,
    0xff,
    0x80,
    0xe9,
    0x0d,
    0x0a,
    0x00,
    0x0a,
    0xc3,
    0x28,
    0x2e,
    0x0d,
    0x0a,
  ]),
  "an empty message": new Uint8Array(0),
};

/** A message of about `megabytes` MB with CRLF, bare LF and dot lines, deterministic. */
export function bigMessage(megabytes: number): Uint8Array {
  const line = text(`${"x".repeat(70)}\r\n`);
  const dotLine = text(".dot line\n");
  const total = megabytes * 1024 * 1024;
  const out = new Uint8Array(total);
  let pos = 0;
  let n = 0;
  while (pos < total) {
    const piece = n % 97 === 0 ? dotLine : line;
    const take = Math.min(piece.length, total - pos);
    out.set(piece.subarray(0, take), pos);
    pos += take;
    n++;
  }
  return out;
}

async function readAll(
  maildrop: Maildrop,
  index: number,
  signal?: AbortSignal,
): Promise<{ bytes: Uint8Array; chunks: number[] }> {
  const parts: Uint8Array[] = [];
  for await (const chunk of maildrop.read(index, signal)) parts.push(chunk.slice());
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    bytes.set(p, pos);
    pos += p.length;
  }
  return { bytes, chunks: parts.map((p) => p.length) };
}

async function drain(iterable: AsyncIterable<Uint8Array>): Promise<void> {
  for await (const _ of iterable) {
    // consume
  }
}

/**
 * The behaviour every `MailStore` must have. `makeStore` gives a fresh, empty store for each
 * test; `addMessage` delivers a message to it.
 */
export function storeContract<S extends MailStore>(
  name: string,
  makeStore: () => S | Promise<S>,
  addMessage: AddMessage<S>,
): void {
  describe(`MailStore contract: ${name}`, () => {
    it("opens an empty maildrop for a user without mail, and commits nothing", async () => {
      const store = await makeStore();
      const md = await store.openMaildrop("nobody");
      expect(md.messages).toEqual([]);
      await md.commit([]);
      const again = await store.openMaildrop("nobody");
      expect(again.messages).toEqual([]);
      await again.release();
    });

    it("numbers messages in delivery order and reads back the exact bytes", async () => {
      const store = await makeStore();
      const bodies = ["first", "second", "third", "fourth"].map((s) =>
        text(`Subject: ${s}\r\n\r\n${s}\r\n`),
      );
      for (const body of bodies) await addMessage(store, "alice", body);
      const md = await store.openMaildrop("alice");
      expect(md.messages).toHaveLength(4);
      for (const [i, body] of bodies.entries()) {
        expect((await readAll(md, i)).bytes).toEqual(body);
      }
      await md.release();
    });

    it("fixes the snapshot at open: mail added during a session appears in the next one", async () => {
      const store = await makeStore();
      await addMessage(store, "alice", text("one\r\n"));
      const md = await store.openMaildrop("alice");
      await addMessage(store, "alice", text("two\r\n"));
      expect(md.messages).toHaveLength(1);
      expect((await readAll(md, 0)).bytes).toEqual(text("one\r\n"));
      await expect(drain(md.read(1))).rejects.toBeInstanceOf(RangeError);
      await md.release();
      const next = await store.openMaildrop("alice");
      expect(next.messages).toHaveLength(2);
      expect((await readAll(next, 1)).bytes).toEqual(text("two\r\n"));
      await next.release();
    });

    it("locks the maildrop exclusively until release, and release is idempotent", async () => {
      const store = await makeStore();
      await addMessage(store, "alice", text("one\r\n"));
      const md = await store.openMaildrop("alice");
      await expect(store.openMaildrop("alice")).rejects.toBeInstanceOf(MaildropInUseError);
      // Another user is not affected.
      const bob = await store.openMaildrop("bob");
      await bob.release();
      await md.release();
      await md.release();
      const next = await store.openMaildrop("alice");
      await expect(store.openMaildrop("alice")).rejects.toBeInstanceOf(MaildropInUseError);
      await next.release();
    });

    it("releases the lock after commit", async () => {
      const store = await makeStore();
      await addMessage(store, "alice", text("one\r\n"));
      const md = await store.openMaildrop("alice");
      await md.commit([]);
      const next = await store.openMaildrop("alice");
      expect(next.messages).toHaveLength(1);
      await next.release();
    });

    it("refuses to read or commit after release or commit", async () => {
      const store = await makeStore();
      await addMessage(store, "alice", text("one\r\n"));
      const md = await store.openMaildrop("alice");
      await md.release();
      await expect(drain(md.read(0))).rejects.toBeInstanceOf(BackendError);
      await expect(md.commit([])).rejects.toBeInstanceOf(BackendError);
      const md2 = await store.openMaildrop("alice");
      await md2.commit([]);
      await expect(drain(md2.read(0))).rejects.toBeInstanceOf(BackendError);
      await expect(md2.commit([])).rejects.toBeInstanceOf(BackendError);
      await md2.release();
      // Nothing was deleted by any of that.
      const md3 = await store.openMaildrop("alice");
      expect(md3.messages).toHaveLength(1);
      await md3.release();
    });

    it("rejects a bad index", async () => {
      const store = await makeStore();
      await addMessage(store, "alice", text("one\r\n"));
      const md = await store.openMaildrop("alice");
      await expect(drain(md.read(1))).rejects.toBeInstanceOf(RangeError);
      await expect(drain(md.read(-1))).rejects.toBeInstanceOf(RangeError);
      await md.release();
    });

    it("commit removes exactly the deleted messages, visible in the next session", async () => {
      const store = await makeStore();
      for (const s of ["a", "b", "c", "d"]) await addMessage(store, "alice", text(`${s}\r\n`));
      const md = await store.openMaildrop("alice");
      const uids = md.messages.map((m) => m.uid);
      // Unknown uids are ignored; a uid listed twice is fine.
      await md.commit([uids[1]!, uids[3]!, uids[3]!, "no-such-uid"]);
      const next = await store.openMaildrop("alice");
      expect(next.messages.map((m) => m.uid)).toEqual([uids[0], uids[2]]);
      expect((await readAll(next, 1)).bytes).toEqual(text("c\r\n"));
      await next.release();
    });

    it("release deletes nothing", async () => {
      const store = await makeStore();
      await addMessage(store, "alice", text("a\r\n"));
      const md = await store.openMaildrop("alice");
      await md.release();
      const next = await store.openMaildrop("alice");
      expect(next.messages).toHaveLength(1);
      await next.release();
    });

    it("keeps uids stable across sessions, unique, valid, and never reused", async () => {
      const store = await makeStore();
      for (let i = 0; i < 20; i++) await addMessage(store, "alice", text(`message ${i}\r\n`));
      const first = await store.openMaildrop("alice");
      const uids = first.messages.map((m) => m.uid);
      expect(new Set(uids).size).toBe(20);
      for (const uid of uids) expect(isValidUid(uid), uid).toBe(true);
      await first.release();

      const second = await store.openMaildrop("alice");
      expect(second.messages.map((m) => m.uid)).toEqual(uids);
      await second.commit(uids.slice(0, 10));

      for (let i = 0; i < 10; i++) await addMessage(store, "alice", text(`message ${i}\r\n`));
      const third = await store.openMaildrop("alice");
      const now = third.messages.map((m) => m.uid);
      expect(now.slice(0, 10)).toEqual(uids.slice(10));
      expect(new Set(now).size).toBe(20);
      for (const uid of now.slice(10)) expect(uids).not.toContain(uid);
      await third.release();
    });

    for (const [label, bytes] of Object.entries(SAMPLES)) {
      it(`reports the RFC size and reads the exact bytes: ${label}`, async () => {
        const store = await makeStore();
        await addMessage(store, "alice", bytes);
        const md = await store.openMaildrop("alice");
        expect(md.messages).toHaveLength(1);
        expect(md.messages[0]!.size).toBe(rfcOctetSize(bytes));
        expect((await readAll(md, 0)).bytes).toEqual(bytes);
        await md.release();
      });
    }

    it("has samples whose RFC size differs from their length (the size tests can fail)", () => {
      const differ = Object.values(SAMPLES).filter((b) => rfcOctetSize(b) !== b.length);
      expect(differ.length).toBeGreaterThanOrEqual(4);
    });

    it("streams a 30 MB message in chunks of at most 64 KiB with the right size", async () => {
      const store = await makeStore();
      const big = bigMessage(30);
      await addMessage(store, "alice", big);
      const md = await store.openMaildrop("alice");
      expect(md.messages[0]!.size).toBe(rfcOctetSize(big));
      let pos = 0;
      let chunks = 0;
      for await (const chunk of md.read(0)) {
        expect(chunk.length).toBeGreaterThan(0);
        expect(chunk.length).toBeLessThanOrEqual(MAX_READ_CHUNK);
        if (Buffer.compare(chunk, big.subarray(pos, pos + chunk.length)) !== 0) {
          throw new Error(`bytes differ in the chunk at ${pos}`);
        }
        pos += chunk.length;
        chunks++;
      }
      expect(pos).toBe(big.length);
      expect(chunks).toBeGreaterThanOrEqual(Math.ceil(big.length / MAX_READ_CHUNK));
      await md.release();
    });

    it("stops reading when the signal aborts", async () => {
      const store = await makeStore();
      await addMessage(store, "alice", bigMessage(1));
      const md = await store.openMaildrop("alice");
      const before = new AbortController();
      before.abort();
      await expect(drain(md.read(0, before.signal))).rejects.toMatchObject({
        name: "AbortError",
      });
      const during = new AbortController();
      let seen = 0;
      const reading = (async () => {
        for await (const chunk of md.read(0, during.signal)) {
          seen += chunk.length;
          during.abort();
        }
      })();
      await expect(reading).rejects.toMatchObject({ name: "AbortError" });
      expect(seen).toBeLessThan(1024 * 1024);
      // The maildrop is still usable afterwards.
      expect((await readAll(md, 0)).bytes.length).toBe(1024 * 1024);
      await md.release();
    });

    it("rejects openMaildrop with an aborted signal and takes no lock", async () => {
      const store = await makeStore();
      const controller = new AbortController();
      controller.abort();
      await expect(store.openMaildrop("alice", controller.signal)).rejects.toMatchObject({
        name: "AbortError",
      });
      const md = await store.openMaildrop("alice");
      await md.release();
    });
  });
}
