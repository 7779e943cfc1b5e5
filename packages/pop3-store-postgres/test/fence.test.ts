/**
 * The commit's fence, driven step by step: row locks held by the test from a connection of its
 * own stop a commit at a chosen statement, and the test waits until pg_stat_activity shows each
 * backend waiting where it should (no sleeps). Then the lock connection of the committing node
 * is killed and a newer session of the same user opens on another node.
 */
import pg from "pg";
import { expect, it } from "vitest";
import { MaildropLockLostError, type PostgresStore } from "../src/index";
import {
  cleanUpStores,
  describeWithPostgres,
  freshSchema,
  PG_URL,
  sql,
  testStore,
} from "./support";

cleanUpStores();

/** Polls until `condition` holds (the deadline only catches a hang). */
async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`still not true after 60 s: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A backend of `schema`'s users waiting on a lock, running a statement that contains `text`. */
async function waitingOn(schema: string, text: string): Promise<boolean> {
  const rows = await sql(
    `SELECT 1 FROM pg_stat_activity
      WHERE wait_event_type = 'Lock' AND query LIKE '%' || $1 || '%' AND query LIKE $2`,
    [text, `%${schema}%`],
  );
  return rows.length > 0;
}

async function setUp(): Promise<{
  schema: string;
  nodeA: PostgresStore;
  nodeB: PostgresStore;
  uids: string[];
  userId: number;
  messageIds: string[];
}> {
  const schema = freshSchema();
  const nodeA = await testStore({ schema });
  const nodeB = await testStore({ schema });
  for (const n of [1, 2, 3]) await nodeA.deliver("alice", `Subject: ${n}\r\n\r\n${n}\r\n`);
  const uids = (await nodeA.list("alice")).map((m) => m.uid);
  const [user] = await sql<{ id: number }>(`SELECT id FROM "${schema}".users WHERE name = 'alice'`);
  const ids = await sql<{ id: string }>(`SELECT id FROM "${schema}".messages ORDER BY id`);
  return {
    schema,
    nodeA,
    nodeB,
    uids,
    userId: user?.id as number,
    messageIds: ids.map((r) => r.id),
  };
}

async function killLockConnection(node: PostgresStore): Promise<void> {
  const pid = node.lockBackendPid as number;
  await sql("SELECT pg_terminate_backend($1)", [pid]);
  await until(
    async () =>
      (await sql("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = $1", [pid]))
        .length === 0,
    "the killed lock backend's locks are gone",
  );
}

describeWithPostgres("the commit's fence against a newer session of the same user", () => {
  it("lock lost after the proof: the newer session waits, then sees the deletions done", async () => {
    const { schema, nodeA, nodeB, uids, messageIds } = await setUp();
    const old = await nodeA.openMaildrop("alice");
    const blocker = new pg.Client({ connectionString: PG_URL });
    await blocker.connect();
    try {
      // Step 1: the commit passes its proof, then its DELETE waits on our lock of message 3.
      await blocker.query("BEGIN");
      await blocker.query(`SELECT 1 FROM "${schema}".messages WHERE id = $1 FOR UPDATE`, [
        messageIds[2],
      ]);
      const committing = old.commit(uids);
      committing.catch(() => {});
      await until(() => waitingOn(schema, "DELETE FROM"), "the commit's DELETE waits");

      // Step 2: its lock connection dies; the maildrop is free in the database.
      await killLockConnection(nodeA);

      // Step 3: a newer session on node B takes the lock and waits on the commit's row lock.
      const opening = nodeB.openMaildrop("alice");
      opening.catch(() => {});
      await until(() => waitingOn(schema, "FOR SHARE"), "the newer session waits on the fence");

      // Step 4: let the commit go on. It commits (its proof held), and only then does the newer
      // session take its snapshot: it never lists a message that is about to vanish.
      await blocker.query("ROLLBACK");
      await committing;
      const newer = await opening;
      expect(newer.messages).toEqual([]);
      expect(await nodeB.list("alice")).toEqual([]);
      await newer.release();
    } finally {
      await blocker.end();
    }
  });

  it("lock taken by a newer session before the proof: the commit deletes nothing", async () => {
    const { schema, nodeA, nodeB, uids, userId } = await setUp();
    const old = await nodeA.openMaildrop("alice");
    const blocker = new pg.Client({ connectionString: PG_URL });
    await blocker.connect();
    try {
      // Step 1: the commit waits for the user row, before its proof.
      await blocker.query("BEGIN");
      await blocker.query(`SELECT 1 FROM "${schema}".users WHERE id = $1 FOR UPDATE`, [userId]);
      const committing = old.commit(uids);
      committing.catch(() => {});
      await until(() => waitingOn(schema, "FOR NO KEY UPDATE"), "the commit waits for the row");

      // Step 2: its lock connection dies; step 3: node B takes the lock (and waits on the row).
      await killLockConnection(nodeA);
      const opening = nodeB.openMaildrop("alice");
      opening.catch(() => {});
      await until(() => waitingOn(schema, "FOR SHARE"), "the newer session waits on the row");

      // Step 4: whichever goes first, the old commit's proof finds the lock gone.
      await blocker.query("ROLLBACK");
      await expect(committing).rejects.toBeInstanceOf(MaildropLockLostError);
      const newer = await opening;
      expect(newer.messages.map((m) => m.uid)).toEqual(uids);
      expect((await nodeB.list("alice")).map((m) => m.uid)).toEqual(uids);
      // The newer session's own UPDATE works.
      await newer.commit([uids[0] as string]);
      expect((await nodeB.list("alice")).map((m) => m.uid)).toEqual(uids.slice(1));
    } finally {
      await blocker.end();
    }
  });
});
