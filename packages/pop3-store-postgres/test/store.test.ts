import { Readable } from "node:stream";
import { rfcOctetSize } from "pop3-core";
import { BackendError, InvalidUserError, MaildropInUseError } from "pop3-server";
import { storeContract } from "pop3-test-harness/store-contract";
import { describe, expect, it } from "vitest";
import { createPostgresStore, MIGRATIONS, PostgresStore } from "../src/index";
import {
  cleanUpStores,
  describeWithPostgres,
  freshSchema,
  PG_URL,
  sql,
  testStore,
} from "./support";

cleanUpStores();

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

async function readAll(iterable: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of iterable) parts.push(chunk.slice());
  return Buffer.concat(parts);
}

describeWithPostgres("PostgresStore", () => {
  storeContract("PostgresStore", {
    createStore: () => testStore(),
    deliver: (store, user, bytes) => store.deliver(user, bytes),
  });

  it("stores large messages in chunks of chunkSize and reads them back one chunk at a time", async () => {
    const store = await testStore({ chunkSize: 64 * 1024 });
    const big = new Uint8Array(64 * 1024 * 3 + 5).map((_, i) => i % 251);
    const { uid, size } = await store.deliver("alice", big);
    expect(size).toBe(rfcOctetSize(big));
    const schema = store.options.schema;
    const chunks = await sql<{ seq: number; n: number }>(
      `SELECT c.seq, length(c.bytes) AS n FROM "${schema}".message_chunks c
         JOIN "${schema}".messages m ON m.id = c.message_id WHERE m.uid = $1 ORDER BY c.seq`,
      [uid],
    );
    expect(chunks).toEqual([
      { seq: 0, n: 65536 },
      { seq: 1, n: 65536 },
      { seq: 2, n: 65536 },
      { seq: 3, n: 5 },
    ]);
    const [row] = await sql<{ size: string; octets: string; chunk_count: number }>(
      `SELECT size, octets, chunk_count FROM "${schema}".messages WHERE uid = $1`,
      [uid],
    );
    expect(row).toEqual({ size: String(size), octets: String(big.length), chunk_count: 4 });
    const md = await store.openMaildrop("alice");
    expect(await readAll(md.read(0))).toEqual(Buffer.from(big));
    await md.release();
  });

  it("delivers from a stream (Node Readable, async iterable, strings) and computes the RFC size", async () => {
    const store = await testStore();
    const pieces = ["Subject: s\n", "\n", ".dot\n", "end"];
    const a = await store.deliver("bob", Readable.from(pieces.map((p) => Buffer.from(p))));
    const b = await store.deliver(
      "bob",
      (async function* () {
        yield* pieces;
      })(),
    );
    const whole = text(pieces.join(""));
    expect(a.size).toBe(rfcOctetSize(whole));
    expect(b.size).toBe(rfcOctetSize(whole));
    expect(await store.list("bob")).toEqual([
      { uid: a.uid, size: a.size },
      { uid: b.uid, size: b.size },
    ]);
  });

  it("a delivery whose source fails, or that is aborted, stores nothing", async () => {
    const store = await testStore();
    const boom = new Error("source broke");
    await expect(
      store.deliver(
        "carol",
        (async function* () {
          yield new Uint8Array(300 * 1024);
          throw boom;
        })(),
      ),
    ).rejects.toBe(boom);
    const controller = new AbortController();
    await expect(
      store.deliver(
        "carol",
        (async function* () {
          yield text("x");
          controller.abort();
          yield text("y");
        })(),
        { signal: controller.signal },
      ),
    ).rejects.toMatchObject({ name: "AbortError" });
    expect(await store.list("carol")).toEqual([]);
    const schema = store.options.schema;
    expect(await sql(`SELECT 1 FROM "${schema}".message_chunks`)).toEqual([]);
  });

  it("refuses messages over maxMessageSize and stores nothing", async () => {
    const store = await testStore({ maxMessageSize: 10 });
    await expect(store.deliver("dave", text("0123456789abc"))).rejects.toBeInstanceOf(RangeError);
    expect(await store.list("dave")).toEqual([]);
    await store.deliver("dave", text("0123456789"));
    expect(await store.list("dave")).toHaveLength(1);
  });

  it("uids carry the store's random prefix and the message id, and stay unique across users", async () => {
    const store = await testStore();
    const a = await store.deliver("alice", "a");
    const b = await store.deliver("bob", "b");
    expect(a.uid).toMatch(/^[0-9a-f]{8}\.\d+$/);
    expect(a.uid.split(".")[0]).toBe(b.uid.split(".")[0]);
    expect(a.uid).not.toBe(b.uid);
    // Another schema (a database created anew) has another prefix.
    const other = await testStore();
    const c = await other.deliver("alice", "a");
    expect(c.uid.split(".")[0]).not.toBe(a.uid.split(".")[0]);
  });

  it("refuses user names the database can not hold", async () => {
    const store = await testStore();
    await expect(store.openMaildrop("a\0b")).rejects.toBeInstanceOf(InvalidUserError);
    await expect(store.openMaildrop("")).rejects.toBeInstanceOf(InvalidUserError);
    await expect(store.deliver("x\uD800", "m")).rejects.toBeInstanceOf(InvalidUserError);
  });

  it("the lock holds across stores (nodes) and is keyed per schema and user", async () => {
    const schema = freshSchema();
    const nodeA = await testStore({ schema });
    const nodeB = await testStore({ schema });
    const elsewhere = await testStore();
    const md = await nodeA.openMaildrop("alice");
    await expect(nodeB.openMaildrop("alice")).rejects.toBeInstanceOf(MaildropInUseError);
    await (await nodeB.openMaildrop("bob")).release();
    await (await elsewhere.openMaildrop("alice")).release();
    await md.release();
    await (await nodeB.openMaildrop("alice")).release();
  });

  it("a lock whose connection dies is gone at once, and that maildrop can commit nothing", async () => {
    const schema = freshSchema();
    const nodeA = await testStore({ schema });
    const nodeB = await testStore({ schema });
    await nodeA.deliver("alice", "one\r\n");
    const md = await nodeA.openMaildrop("alice");
    const uid = md.messages[0]!.uid;
    // Kill node A's lock connection from the server side, as a database restart would.
    await sql(
      `SELECT pg_terminate_backend(pid) FROM pg_locks
        WHERE locktype = 'advisory' AND classid::int = hashtext($1) AND granted`,
      [`pop3-store-postgres:${schema}`],
    );
    await new Promise((r) => setTimeout(r, 200));
    const b = await nodeB.openMaildrop("alice");
    await b.release();
    await expect(md.commit([uid])).rejects.toBeInstanceOf(BackendError);
    expect(await nodeB.list("alice")).toHaveLength(1);
    await md.release();
  });

  it("release waits for a commit in progress before giving the connection back", async () => {
    const store = await testStore();
    for (let i = 0; i < 5; i++) await store.deliver("alice", `m${i}\r\n`);
    const md = await store.openMaildrop("alice");
    const committing = md.commit(md.messages.slice(0, 3).map((m) => m.uid));
    const releasing = md.release();
    await Promise.all([committing, releasing]);
    expect(await store.list("alice")).toHaveLength(2);
    await (await store.openMaildrop("alice")).release();
  });

  it("migrations are idempotent and safe when nodes start at once", async () => {
    const schema = freshSchema();
    const stores = await Promise.all(
      Array.from({ length: 4 }, () => testStore({ schema, poolSize: 2 })),
    );
    expect(stores).toHaveLength(4);
    const again = await testStore({ schema });
    await again.ready();
    const rows = await sql<{ version: number }>(
      `SELECT version FROM "${schema}".schema_migrations ORDER BY version`,
    );
    expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it("with migrate: false, a missing schema is a BackendError", async () => {
    const store = new PostgresStore({
      connectionString: PG_URL as string,
      schema: freshSchema(),
      migrate: false,
    });
    try {
      await expect(store.openMaildrop("alice")).rejects.toBeInstanceOf(BackendError);
    } finally {
      await store.close();
    }
  });
});

describe("PostgresStore without a database", () => {
  it("validates its options with a ConfigError listing every problem", () => {
    expect(
      () => new PostgresStore({ schema: "Bad-Name", poolSize: 0, chunkSize: 10 }),
    ).toThrowError(/schema[\s\S]*poolSize[\s\S]*chunkSize/);
  });

  it("an unreachable database is a BackendError (-ERR [SYS/TEMP]), never a crash", async () => {
    const store = new PostgresStore({
      connectionString: "postgres://nobody@127.0.0.1:1/none",
      connectionTimeoutMs: 2000,
    });
    try {
      await expect(store.openMaildrop("alice")).rejects.toBeInstanceOf(BackendError);
      await expect(store.deliver("alice", "x")).rejects.toBeInstanceOf(BackendError);
    } finally {
      await store.close();
    }
    await expect(
      createPostgresStore({ connectionString: "postgres://nobody@127.0.0.1:1/none" }),
    ).rejects.toBeInstanceOf(BackendError);
  });
});
