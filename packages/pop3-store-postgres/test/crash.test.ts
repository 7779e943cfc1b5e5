/**
 * Real crashes. PostgreSQL stopped with `pg_ctl -m immediate` (every backend gone at once, crash
 * recovery from the WAL on the next start) in the middle of an UPDATE and of deliveries, on a
 * cluster of the tests' own; a node process SIGKILLed while it holds 1,000 sessions; the lock
 * connection killed from the database while clients sit in TRANSACTION with messages marked.
 * The promises: nothing acknowledged is lost, nothing is deleted that was not committed, and a
 * commit is all or nothing.
 */
import pg from "pg";
import { connect, type Pop3Client } from "pop3-client";
import { createServer, staticUsers } from "pop3-server";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createPostgresStore, type PostgresStore } from "../src/index";
import { CAN_MAKE_CLUSTERS, type ScratchCluster, scratchCluster, startChild } from "./children";
import { describeWithPostgres, freshSchema, PG_URL, sql } from "./support";

async function until(condition: () => Promise<boolean>, what: string, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`still not true after ${ms / 1000} s: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function readAll(iterable: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of iterable) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

/** Distinct bytes per message, `size` octets of CRLF lines. */
function message(tag: string, size: number): Buffer {
  const line = Buffer.from(`${`${tag} ${"x".repeat(70)}`.slice(0, 70)}\r\n`);
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i += line.length) line.copy(out, i);
  out[size - 2] = 0x0d;
  out[size - 1] = 0x0a;
  return out;
}

describeWithPostgres("crashes: pg_ctl -m immediate during UPDATE and delivery", () => {
  let cluster: ScratchCluster | undefined;
  let db: pg.Client | undefined;
  const stores: PostgresStore[] = [];

  beforeAll(async () => {
    if (CAN_MAKE_CLUSTERS) cluster = await scratchCluster(100);
  }, 300_000);

  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close().catch(() => {})));
    await db?.end().catch(() => {});
    await cluster?.stop();
  }, 120_000);

  async function store(schema: string): Promise<PostgresStore> {
    const s = await createPostgresStore({
      connectionString: (cluster as ScratchCluster).url,
      schema,
      poolSize: 10,
      chunkSize: 64 * 1024,
      connectionTimeoutMs: 5000,
    });
    stores.push(s);
    return s;
  }

  /** One query on the scratch cluster, on a fresh connection (the old one died in the crash). */
  async function query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []) {
    const client = new pg.Client({ connectionString: (cluster as ScratchCluster).url });
    await client.connect();
    try {
      return (await client.query<R>(text, values)).rows;
    } finally {
      await client.end();
    }
  }

  /** Crashes the cluster, then starts it (crash recovery) and returns. */
  async function crashAndRecover(): Promise<void> {
    await (cluster as ScratchCluster).crash();
    await (cluster as ScratchCluster).start();
  }

  it.skipIf(!CAN_MAKE_CLUSTERS)(
    "a crash in the middle of an UPDATE deletes nothing",
    { timeout: 300_000 },
    async () => {
      const schema = freshSchema();
      const node = await store(schema);
      for (let i = 0; i < 6; i++) await node.deliver("alice", message(`m${i}`, 2000));
      const uids = (await node.list("alice")).map((m) => m.uid);
      const ids = await query<{ id: string }>(`SELECT id FROM "${schema}".messages ORDER BY id`);
      const md = await node.openMaildrop("alice");
      // Our lock on message 4 stops the DELETE half-way: rows before it are already deleted in
      // the (uncommitted) transaction when the crash comes.
      db = new pg.Client({ connectionString: (cluster as ScratchCluster).url });
      db.on("error", () => {});
      await db.connect();
      await db.query("BEGIN");
      await db.query(`SELECT 1 FROM "${schema}".messages WHERE id = $1 FOR UPDATE`, [ids[3]?.id]);
      const commit = md.commit(uids);
      commit.catch(() => {});
      await until(
        async () =>
          (
            await query(
              `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'DELETE FROM "${schema}"%'`,
            )
          ).length > 0,
        "the DELETE is waiting half-way",
      );
      await crashAndRecover();
      db = undefined;
      await expect(commit).rejects.toMatchObject({ code: "POP3_STORE" });
      expect((await node.list("alice")).map((m) => m.uid)).toEqual(uids);
      // The store works again after the recovery: a new session deletes for real.
      const again = await node.openMaildrop("alice");
      await again.commit(uids.slice(0, 2));
      expect((await node.list("alice")).map((m) => m.uid)).toEqual(uids.slice(2));
    },
  );

  it.skipIf(!CAN_MAKE_CLUSTERS)(
    "deliveries and UPDATEs racing a crash: acknowledged ones are durable, the others all or nothing",
    { timeout: 300_000 },
    async () => {
      const schema = freshSchema();
      const node = await store(schema);
      // Four workers, each in a loop until its first failure: deliver two messages to a new
      // user, open the maildrop, commit the deletion of the first. The crash comes after the
      // 20th acknowledged commit, so it lands in the middle of that traffic.
      interface Round {
        user: string;
        delivered: { uid: string; bytes: Buffer }[];
        commit?: "ok" | "failed";
      }
      const rounds: Round[] = [];
      let commits = 0;
      let crashed: Promise<void> | undefined;
      let next = 0;
      const worker = async (): Promise<void> => {
        for (;;) {
          const round: Round = { user: `w${next++}`, delivered: [] };
          rounds.push(round);
          try {
            for (const tag of ["a", "b"]) {
              const bytes = message(`${round.user}${tag}`, 20_000);
              round.delivered.push({ uid: (await node.deliver(round.user, bytes)).uid, bytes });
            }
            const md = await node.openMaildrop(round.user);
            round.commit = "failed";
            await md.commit([round.delivered[0]?.uid as string]);
            round.commit = "ok";
            commits += 1;
            if (commits === 20) crashed = (cluster as ScratchCluster).crash();
          } catch {
            return;
          }
        }
      };
      await Promise.all(Array.from({ length: 4 }, worker));
      await crashed;
      await (cluster as ScratchCluster).start();

      let acknowledged = 0;
      let unacknowledged = 0;
      for (const round of rounds) {
        const md = await node.openMaildrop(round.user);
        const after = new Map<string, Buffer>();
        for (const [i, m] of md.messages.entries()) after.set(m.uid, await readAll(md.read(i)));
        await md.release();
        const [a, b] = round.delivered;
        // Every acknowledged delivery is there, whole, unless an acknowledged commit deleted it.
        if (b !== undefined) expect(after.get(b.uid)?.equals(b.bytes)).toBe(true);
        if (round.commit === "ok") {
          acknowledged += 1;
          expect([...after.keys()]).toEqual([b?.uid]);
        } else if (round.commit === "failed") {
          unacknowledged += 1;
          // All or nothing: deleted, or still there whole.
          expect([[b?.uid], [a?.uid, b?.uid]]).toContainEqual([...after.keys()]);
          if (after.has(a?.uid as string))
            expect(after.get(a?.uid as string)?.equals(a?.bytes as Buffer)).toBe(true);
        } else if (a !== undefined) {
          expect(after.get(a.uid)?.equals(a.bytes)).toBe(true);
        }
        // Nothing that was not delivered by us.
        const ours = round.delivered.map((d) => d.uid);
        for (const uid of after.keys()) {
          if (!ours.includes(uid)) {
            // A delivery whose acknowledgement the crash ate: it must be one of this round's
            // messages, whole (the bytes name the round).
            const bytes = after.get(uid) as Buffer;
            const tag = bytes.subarray(0, round.user.length + 2).toString();
            expect([`${round.user}a `, `${round.user}b `]).toContain(tag);
            expect(bytes.equals(message(tag.trim(), 20_000))).toBe(true);
          }
        }
      }
      const [orphans] = await query<{ n: string }>(
        `SELECT count(*) AS n FROM "${schema}".message_chunks c
          WHERE NOT EXISTS (SELECT 1 FROM "${schema}".messages m WHERE m.id = c.message_id)`,
      );
      expect(Number(orphans?.n)).toBe(0);
      console.log(
        `[crash] ${acknowledged} UPDATEs acknowledged before the crash, ${unacknowledged} in flight when it came; ${rounds.length} rounds`,
      );
      expect(acknowledged).toBeGreaterThanOrEqual(20);
      expect(rounds.filter((r) => r.commit !== "ok").length).toBeGreaterThanOrEqual(4);
    },
  );

  it.skipIf(!CAN_MAKE_CLUSTERS)(
    "a crash in the middle of a delivery stores none of it; an acknowledged one stays whole",
    { timeout: 300_000 },
    async () => {
      const schema = freshSchema();
      const node = await store(schema);
      const first = message("acknowledged", 300_000);
      const { uid: firstUid } = await node.deliver("bob", first);
      // A delivery whose source stops after four 64 KiB chunks, its transaction open...
      let resume: () => void = () => {};
      let paused: () => void = () => {};
      const reachedPause = new Promise<void>((resolve) => {
        paused = resolve;
      });
      const big = message("interrupted", 1_000_000);
      async function* source(): AsyncGenerator<Uint8Array> {
        for (let at = 0; at < big.length; at += 64 * 1024) {
          if (at === 4 * 64 * 1024) {
            paused();
            await new Promise<void>((resolve) => {
              resume = resolve;
            });
          }
          yield big.subarray(at, at + 64 * 1024);
        }
      }
      const interrupted = node.deliver("bob", source());
      interrupted.catch(() => {});
      await reachedPause;
      await (cluster as ScratchCluster).crash();
      resume();
      await expect(interrupted).rejects.toMatchObject({ code: "POP3_STORE" });
      await (cluster as ScratchCluster).start();

      const stored = await node.list("bob");
      const md = await node.openMaildrop("bob");
      const bytesOf = new Map<string, Buffer>();
      for (const [i, m] of md.messages.entries()) bytesOf.set(m.uid, await readAll(md.read(i)));
      await md.release();
      // The message acknowledged before everything: there, byte for byte.
      expect(bytesOf.get(firstUid)?.equals(first)).toBe(true);
      // The interrupted one: nowhere, not even in part.
      for (const bytes of bytesOf.values()) expect(bytes.equals(big)).toBe(false);
      expect(stored.map((m) => m.uid)).toEqual([firstUid]);
      // No orphan chunks, and every message has exactly its chunks.
      const [orphans] = await query<{ n: string }>(
        `SELECT count(*) AS n FROM "${schema}".message_chunks c
          WHERE NOT EXISTS (SELECT 1 FROM "${schema}".messages m WHERE m.id = c.message_id)`,
      );
      expect(Number(orphans?.n)).toBe(0);
      const mismatched = await query(
        `SELECT m.id FROM "${schema}".messages m
          WHERE m.chunk_count <> (SELECT count(*) FROM "${schema}".message_chunks c WHERE c.message_id = m.id)`,
      );
      expect(mismatched).toEqual([]);
    },
  );
});

describeWithPostgres("crashes: a node killed, a lock connection killed", () => {
  it("SIGKILL of a node holding 1,000 sessions frees its locks; another node logs in; nothing deleted", {
    timeout: 600_000,
  }, async () => {
    const SESSIONS = 1000;
    const schema = freshSchema();
    const other = await createPostgresStore({ connectionString: PG_URL as string, schema });
    try {
      for (let i = 0; i < SESSIONS; i += 50) await other.deliver(`u${i}`, message(`u${i}`, 1000));
      const node = await startChild(
        "scale-node.mjs",
        [
          JSON.stringify({
            url: PG_URL,
            schema,
            poolSize: 10,
            applicationName: "pop3-crash-node",
            users: ["u", SESSIONS],
            password: "pw",
          }),
        ],
        { fds: SESSIONS + 1000 },
      );
      const gen = await startChild("idle-clients.mjs", [], { fds: SESSIONS + 1000 });
      try {
        const opened = await gen.ask<{ open: number; firstError?: string }>({
          type: "login",
          port: node.first["port"],
          users: ["u", 0, SESSIONS],
          password: "pw",
          parallel: 50,
          localAddresses: ["127.0.0.1"],
        });
        expect(opened.firstError).toBeUndefined();
        expect(opened.open).toBe(SESSIONS);
        const { lockPid } = await node.ask<{ lockPid: number }>({ type: "memory" });
        const locks = async () =>
          Number(
            (
              await sql<{ n: string }>(
                "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = $1",
                [lockPid],
              )
            )[0]?.n,
          );
        expect(await locks()).toBe(SESSIONS);
        await expect(other.openMaildrop("u0")).rejects.toMatchObject({ code: "POP3_IN_USE" });

        const t = performance.now();
        await node.stop("SIGKILL");
        await until(async () => (await locks()) === 0, "the dead node's locks are freed");
        console.log(
          `[crash] ${SESSIONS} locks freed ${((performance.now() - t) / 1000).toFixed(2)} s after SIGKILL`,
        );
        // Another node takes the maildrops, and finds every message still there.
        for (let i = 0; i < SESSIONS; i += 50) {
          const md = await other.openMaildrop(`u${i}`);
          expect(md.messages).toHaveLength(1);
          await md.release();
        }
      } finally {
        await gen.stop("SIGKILL");
        await node.stop("SIGKILL");
      }
    } finally {
      await other.close();
      await sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  });

  it("lock connection killed while clients are in TRANSACTION: RETR and QUIT answer [SYS/TEMP], nothing deleted", {
    timeout: 300_000,
  }, async () => {
    const schema = freshSchema();
    const store = await createPostgresStore({ connectionString: PG_URL as string, schema });
    const users = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`user${i}`, "pw"]));
    const server = createServer({
      store,
      auth: staticUsers(users),
      plain: { host: "127.0.0.1", port: 0 },
      allowCleartextAuth: true,
      limits: { failedLoginDelayMs: 0 },
    });
    const port = (await server.listen()).plain?.port as number;
    const clients: Pop3Client[] = [];
    try {
      const before = new Map<string, string[]>();
      for (const u of Object.keys(users)) {
        for (let i = 0; i < 3; i++) await store.deliver(u, message(`${u}-${i}`, 5000));
        before.set(
          u,
          (await store.list(u)).map((m) => m.uid),
        );
      }
      for (const u of Object.keys(users)) {
        const c = await connect({ host: "127.0.0.1", port, tls: "none" });
        await c.login({ user: u, password: "pw", mechanism: "USER" });
        await c.delete(1);
        await c.delete(2);
        clients.push(c);
      }
      const pid = store.lockBackendPid as number;
      await sql("SELECT pg_terminate_backend($1)", [pid]);
      await until(async () => store.lockBackendPid !== pid, "the node notices");
      for (const c of clients) {
        await expect(c.retrieveBytes(3)).rejects.toMatchObject({ responseCode: "SYS/TEMP" });
        const quit = await c.quit();
        expect(quit.committed).toBe(false);
        expect(quit.reply).toMatchObject({ ok: false, code: "SYS/TEMP" });
      }
      for (const u of Object.keys(users)) {
        expect((await store.list(u)).map((m) => m.uid)).toEqual(before.get(u));
      }
      // The users log in again at once, on a new lock connection, and their UPDATE works.
      const c = await connect({ host: "127.0.0.1", port, tls: "none" });
      await c.login({ user: "user0", password: "pw", mechanism: "USER" });
      await c.delete(1);
      expect((await c.quit()).committed).toBe(true);
      expect((await store.list("user0")).map((m) => m.uid)).toEqual(before.get("user0")?.slice(1));
    } finally {
      for (const c of clients) c.close();
      await server.close();
      await sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  });
});
