import { rfcOctetSize } from "pop3-core";
import { describe, expect, it } from "vitest";
import { BackendError, MaildropInUseError } from "../../src/errors";
import { MemoryStore } from "../../src/store/memory-store";

// The MailStore contract suite runs on MemoryStore in pop3-test-harness
// (test/store-contract/memory.test.ts), which publishes it as pop3-test-harness/store-contract.

describe("MemoryStore", () => {
  it("addMessage returns the uid and the RFC size, and stores a copy", () => {
    const store = new MemoryStore();
    const bytes = new TextEncoder().encode("a\nb\n.c");
    const added = store.addMessage("alice", bytes);
    expect(added.size).toBe(rfcOctetSize(bytes));
    bytes[0] = 0x7a;
    expect(store.messages("alice")).toEqual([
      { uid: added.uid, size: added.size, bytes: new TextEncoder().encode("a\nb\n.c") },
    ]);
  });

  it("stores strings as UTF-8", () => {
    const store = new MemoryStore();
    const { size } = store.addMessage("alice", "Subject: é\r\n");
    expect(size).toBe(13);
    expect(store.messages("alice")[0]!.bytes).toEqual(new TextEncoder().encode("Subject: é\r\n"));
  });

  it("accepts a chosen uid, and refuses invalid or reused ones", async () => {
    const store = new MemoryStore();
    expect(store.addMessage("alice", "x", { uid: "my-uid" }).uid).toBe("my-uid");
    expect(() => store.addMessage("alice", "x", { uid: "my-uid" })).toThrow(RangeError);
    expect(() => store.addMessage("alice", "x", { uid: "" })).toThrow(RangeError);
    expect(() => store.addMessage("alice", "x", { uid: "a b" })).toThrow(RangeError);
    expect(() => store.addMessage("alice", "x", { uid: "é" })).toThrow(RangeError);
    expect(() => store.addMessage("alice", "x", { uid: "u".repeat(71) })).toThrow(RangeError);
    expect(store.addMessage("alice", "x", { uid: "u".repeat(70) }).uid).toHaveLength(70);
    // Deleted uids stay used.
    const md = await store.openMaildrop("alice");
    await md.commit(["my-uid"]);
    expect(() => store.addMessage("alice", "x", { uid: "my-uid" })).toThrow(RangeError);
    // The same uid is fine for another user.
    expect(store.addMessage("bob", "x", { uid: "my-uid" }).uid).toBe("my-uid");
  });

  it("never reuses uids after deleteUser", () => {
    const store = new MemoryStore();
    const first = store.addMessage("alice", "x").uid;
    expect(store.deleteUser("alice")).toBe(true);
    expect(store.deleteUser("alice")).toBe(false);
    expect(store.users()).toEqual([]);
    expect(store.addMessage("alice", "x").uid).not.toBe(first);
  });

  it("lists users and their current messages", async () => {
    const store = new MemoryStore();
    store.addMessage("alice", "1");
    const two = store.addMessage("alice", "2");
    store.addMessage("bob", "3");
    expect(store.users()).toEqual(["alice", "bob"]);
    const md = await store.openMaildrop("alice");
    await md.commit([md.messages[0]!.uid]);
    expect(store.messages("alice").map((m) => m.uid)).toEqual([two.uid]);
    expect(store.messages("carol")).toEqual([]);
  });

  it("keeps the lock of a user deleted during a session until it ends", async () => {
    const store = new MemoryStore();
    store.addMessage("alice", "1");
    const md = await store.openMaildrop("alice");
    store.deleteUser("alice");
    expect(store.users()).toEqual([]);
    expect(store.isLocked("alice")).toBe(true);
    await expect(store.openMaildrop("alice")).rejects.toBeInstanceOf(MaildropInUseError);
    expect(md.messages).toHaveLength(1);
    await md.release();
    expect(store.isLocked("alice")).toBe(false);
    expect(store.users()).toEqual([]);
  });

  it("a failed commit rejects with BackendError, removes nothing and releases the lock", async () => {
    const seen: [string, readonly string[]][] = [];
    const store = new MemoryStore({
      failCommit: (user, uids) => {
        seen.push([user, uids]);
        return true;
      },
    });
    const { uid } = store.addMessage("alice", "1");
    const md = await store.openMaildrop("alice");
    await expect(md.commit([uid])).rejects.toBeInstanceOf(BackendError);
    expect(seen).toEqual([["alice", [uid]]]);
    expect(store.messages("alice")).toHaveLength(1);
    expect(store.isLocked("alice")).toBe(false);

    const cause = new Error("disk on fire");
    store.failCommit = () => cause;
    const md2 = await store.openMaildrop("alice");
    await expect(md2.commit([uid])).rejects.toMatchObject({ code: "POP3_STORE", cause });
    store.failCommit = () => {
      throw cause;
    };
    const md3 = await store.openMaildrop("alice");
    await expect(md3.commit([uid])).rejects.toMatchObject({ code: "POP3_STORE", cause });
    expect(store.messages("alice")).toHaveLength(1);

    store.failCommit = () => false;
    const md4 = await store.openMaildrop("alice");
    await md4.commit([uid]);
    expect(store.messages("alice")).toHaveLength(0);
  });

  it("read yields views of at most 64 KiB that add up to the message", async () => {
    const store = new MemoryStore();
    store.addMessage("alice", new Uint8Array(64 * 1024 * 2 + 1).fill(0x61));
    const md = await store.openMaildrop("alice");
    const sizes: number[] = [];
    for await (const chunk of md.read(0)) sizes.push(chunk.length);
    expect(sizes).toEqual([65536, 65536, 1]);
    await md.release();
  });
});

describe("MemoryStore copies", () => {
  it("keeps its own copy of a Buffer, so later changes by the caller do not reach the store", () => {
    const store = new MemoryStore();
    const source = Buffer.from("Subject: a\r\n\r\nb\r\n");
    store.addMessage("u", source);
    source.fill(0x78);
    const stored = store.messages("u")[0]?.bytes as Uint8Array;
    expect(Buffer.from(stored).toString()).toBe("Subject: a\r\n\r\nb\r\n");
  });
});
