/**
 * `pop3-test-harness/store-contract`: the behaviour every pop3-server `MailStore` must have, as a
 * vitest suite. pop3-server's memory and Maildir stores and pop3-store-postgres run it; a store of
 * your own proves itself with one call in a test file:
 *
 * ```ts
 * import { storeContract } from "pop3-test-harness/store-contract";
 *
 * storeContract("MyStore", {
 *   createStore: () => new MyStore(),
 *   deliver: (store, user, bytes) => store.deliver(user, bytes),
 * });
 * ```
 *
 * It takes `describe`, `it` and `expect` from vitest (an optional peer dependency: only this entry
 * point needs it).
 */
import { rfcOctetSize } from "pop3-core";
import { isValidUid, MAX_READ_CHUNK, type MailStore } from "pop3-server";
import { describe, expect, it } from "vitest";
import { bigMessage, drain, readAll, SAMPLES, text } from "./messages";

export interface StoreContractOptions<S extends MailStore> {
  /** A fresh, empty store; called once per test. */
  readonly createStore: () => S | Promise<S>;
  /** Puts a message into `user`'s maildrop the way the store's delivery would. */
  readonly deliver: (store: S, user: string, bytes: Uint8Array) => Promise<unknown> | unknown;
}

/**
 * Matched by name and code rather than `instanceof`, so a store built against another copy of
 * pop3-server than the harness's passes too.
 */
const IN_USE = { name: "MaildropInUseError", code: "POP3_IN_USE" };
const CLOSED = { name: "BackendError", code: "POP3_STORE" };

/**
 * Declares the contract suite for a `MailStore`, named `MailStore contract: <name>`: maildrop
 * snapshots and exclusive locks, message numbering and stable unique uids, RFC sizes and exact
 * bytes (dot lines, bare CR and LF, NUL, 8-bit, empty), commit deleting exactly what was asked and
 * release deleting nothing, use after close refused, a 30 MB message streamed in chunks of at
 * most 64 KiB, and abort signals honoured.
 */
export function storeContract<S extends MailStore>(
  name: string,
  { createStore, deliver }: StoreContractOptions<S>,
): void {
  describe(`MailStore contract: ${name}`, () => {
    it("opens an empty maildrop for a user without mail, and commits nothing", async () => {
      const store = await createStore();
      const md = await store.openMaildrop("nobody");
      expect(md.messages).toEqual([]);
      await md.commit([]);
      const again = await store.openMaildrop("nobody");
      expect(again.messages).toEqual([]);
      await again.release();
    });

    it("numbers messages in delivery order and reads back the exact bytes", async () => {
      const store = await createStore();
      const bodies = ["first", "second", "third", "fourth"].map((s) =>
        text(`Subject: ${s}\r\n\r\n${s}\r\n`),
      );
      for (const body of bodies) await deliver(store, "alice", body);
      const md = await store.openMaildrop("alice");
      expect(md.messages).toHaveLength(4);
      for (const [i, body] of bodies.entries()) {
        expect((await readAll(md, i)).bytes).toEqual(body);
      }
      await md.release();
    });

    it("fixes the snapshot at open: mail added during a session appears in the next one", async () => {
      const store = await createStore();
      await deliver(store, "alice", text("one\r\n"));
      const md = await store.openMaildrop("alice");
      await deliver(store, "alice", text("two\r\n"));
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
      const store = await createStore();
      await deliver(store, "alice", text("one\r\n"));
      const md = await store.openMaildrop("alice");
      await expect(store.openMaildrop("alice")).rejects.toMatchObject(IN_USE);
      // Another user is not affected.
      const bob = await store.openMaildrop("bob");
      await bob.release();
      await md.release();
      await md.release();
      const next = await store.openMaildrop("alice");
      await expect(store.openMaildrop("alice")).rejects.toMatchObject(IN_USE);
      await next.release();
    });

    it("releases the lock after commit", async () => {
      const store = await createStore();
      await deliver(store, "alice", text("one\r\n"));
      const md = await store.openMaildrop("alice");
      await md.commit([]);
      const next = await store.openMaildrop("alice");
      expect(next.messages).toHaveLength(1);
      await next.release();
    });

    it("refuses to read or commit after release or commit", async () => {
      const store = await createStore();
      await deliver(store, "alice", text("one\r\n"));
      const md = await store.openMaildrop("alice");
      await md.release();
      await expect(drain(md.read(0))).rejects.toMatchObject(CLOSED);
      await expect(md.commit([])).rejects.toMatchObject(CLOSED);
      const md2 = await store.openMaildrop("alice");
      await md2.commit([]);
      await expect(drain(md2.read(0))).rejects.toMatchObject(CLOSED);
      await expect(md2.commit([])).rejects.toMatchObject(CLOSED);
      await md2.release();
      // Nothing was deleted by any of that.
      const md3 = await store.openMaildrop("alice");
      expect(md3.messages).toHaveLength(1);
      await md3.release();
    });

    it("rejects a bad index", async () => {
      const store = await createStore();
      await deliver(store, "alice", text("one\r\n"));
      const md = await store.openMaildrop("alice");
      await expect(drain(md.read(1))).rejects.toBeInstanceOf(RangeError);
      await expect(drain(md.read(-1))).rejects.toBeInstanceOf(RangeError);
      await md.release();
    });

    it("commit removes exactly the deleted messages, visible in the next session", async () => {
      const store = await createStore();
      for (const s of ["a", "b", "c", "d"]) await deliver(store, "alice", text(`${s}\r\n`));
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
      const store = await createStore();
      await deliver(store, "alice", text("a\r\n"));
      const md = await store.openMaildrop("alice");
      await md.release();
      const next = await store.openMaildrop("alice");
      expect(next.messages).toHaveLength(1);
      await next.release();
    });

    it("keeps uids stable across sessions, unique, valid, and never reused", async () => {
      const store = await createStore();
      for (let i = 0; i < 20; i++) await deliver(store, "alice", text(`message ${i}\r\n`));
      const first = await store.openMaildrop("alice");
      const uids = first.messages.map((m) => m.uid);
      expect(new Set(uids).size).toBe(20);
      for (const uid of uids) expect(isValidUid(uid), uid).toBe(true);
      await first.release();

      const second = await store.openMaildrop("alice");
      expect(second.messages.map((m) => m.uid)).toEqual(uids);
      await second.commit(uids.slice(0, 10));

      for (let i = 0; i < 10; i++) await deliver(store, "alice", text(`message ${i}\r\n`));
      const third = await store.openMaildrop("alice");
      const now = third.messages.map((m) => m.uid);
      expect(now.slice(0, 10)).toEqual(uids.slice(10));
      expect(new Set(now).size).toBe(20);
      for (const uid of now.slice(10)) expect(uids).not.toContain(uid);
      await third.release();
    });

    for (const [label, bytes] of Object.entries(SAMPLES)) {
      it(`reports the RFC size and reads the exact bytes: ${label}`, async () => {
        const store = await createStore();
        await deliver(store, "alice", bytes);
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
      const store = await createStore();
      const big = bigMessage(30);
      await deliver(store, "alice", big);
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
      const store = await createStore();
      await deliver(store, "alice", bigMessage(1));
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
      const store = await createStore();
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
