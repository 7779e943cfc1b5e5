/**
 * The lock design of issue 13: one lock connection per node holds the advisory locks of all its
 * sessions, a small pool serves everything else. Assertions are counts and outcomes, never times
 * (the time to open the sessions is printed, for information).
 */
import { randomBytes } from "node:crypto";
import { Socket } from "node:net";
import type { Maildrop } from "pop3-server";
import { MaildropInUseError } from "pop3-server";
import { expect, it } from "vitest";
import { MaildropLockLostError, type PostgresStore } from "../src/index";
import { cleanUpStores, describeWithPostgres, freshSchema, sql, testStore } from "./support";

cleanUpStores();

/**
 * Sessions the scale test holds on one node. 1,000 by default (about 1 s here; the suite's
 * 60 s limit leaves a margin far beyond a machine 3× slower); POP3_PG_SESSIONS=10000 runs the
 * issue's full figure.
 */
const SESSIONS = Number(process.env["POP3_PG_SESSIONS"] ?? 1000);
const POOL_SIZE = 10;

function appName(): string {
  return `pop3-lt-${randomBytes(4).toString("hex")}`;
}

async function connectionsOf(applicationName: string): Promise<number> {
  const [row] = await sql<{ n: string }>(
    "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1",
    [applicationName],
  );
  return Number(row?.n);
}

async function advisoryLocksOf(pid: number): Promise<number> {
  const [row] = await sql<{ n: string }>(
    "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = $1",
    [pid],
  );
  return Number(row?.n);
}

/** Polls `condition` until it holds (a deadline only catches a hang; nothing is timed). */
async function eventually(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`still not true after 30 s: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs `work` for 0..n-1 with at most `width` in flight. */
async function inParallel<T>(n: number, width: number, work: (i: number) => Promise<T>) {
  const results: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      while (next < n) {
        const i = next++;
        results[i] = await work(i);
      }
    }),
  );
  return results;
}

async function readAll(iterable: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Uint8Array[] = [];
  for await (const chunk of iterable) parts.push(chunk.slice());
  return Buffer.concat(parts).toString("utf8");
}

describeWithPostgres("PostgresStore locks: one lock connection per node", () => {
  it(`a node with poolSize ${POOL_SIZE} holds ${SESSIONS} logged-in sessions on at most ${POOL_SIZE + 1} connections`, async () => {
    const applicationName = appName();
    const schema = freshSchema();
    const node = await testStore({ schema, poolSize: POOL_SIZE, applicationName });
    const other = await testStore({ schema, poolSize: 2 });
    const user = (i: number): string => `user${i}`;
    // A few maildrops with mail, to see the snapshots and an UPDATE among the crowd.
    for (const i of [0, 1, SESSIONS - 1]) {
      await node.deliver(user(i), `Subject: ${i}\r\n\r\nfirst\r\n`);
      await node.deliver(user(i), `Subject: ${i}\r\n\r\nsecond\r\n`);
    }
    const started = performance.now();
    const sessions = await inParallel(SESSIONS, 100, (i) => node.openMaildrop(user(i)));
    const ms = performance.now() - started;
    console.log(
      `[postgres] opened ${SESSIONS} sessions in ${(ms / 1000).toFixed(2)} s (${Math.round((SESSIONS / ms) * 1000)}/s) with poolSize ${POOL_SIZE}`,
    );
    try {
      expect(sessions).toHaveLength(SESSIONS);
      expect(sessions[0]?.messages).toHaveLength(2);
      expect(sessions[2]?.messages).toHaveLength(0);
      const connections = await connectionsOf(applicationName);
      console.log(`[postgres] connections of the node holding them: ${connections}`);
      expect(connections).toBeGreaterThanOrEqual(1);
      expect(connections).toBeLessThanOrEqual(POOL_SIZE + 1);
      // Every lock lives on the one lock backend...
      const pid = node.lockBackendPid;
      expect(pid).toBeTypeOf("number");
      expect(await advisoryLocksOf(pid as number)).toBe(SESSIONS);
      // ...and holds against the other node, and against this node itself.
      await expect(other.openMaildrop(user(SESSIONS - 1))).rejects.toBeInstanceOf(
        MaildropInUseError,
      );
      await expect(node.openMaildrop(user(1))).rejects.toBeInstanceOf(MaildropInUseError);
      // Reads and an UPDATE still work with all those sessions open.
      const first = sessions[0] as Maildrop;
      expect(await readAll(first.read(1))).toBe("Subject: 0\r\n\r\nsecond\r\n");
      await first.commit([first.messages[0]?.uid as string]);
      expect(await node.list(user(0))).toHaveLength(1);
      expect(await connectionsOf(applicationName)).toBeLessThanOrEqual(POOL_SIZE + 1);
    } finally {
      await inParallel(SESSIONS, 100, (i) => (sessions[i] as Maildrop).release());
    }
    expect(await advisoryLocksOf(node.lockBackendPid as number)).toBe(0);
    await (await other.openMaildrop(user(SESSIONS - 1))).release();
    // Closing the store ends the lock connection as well as the pool.
    await node.close();
    await eventually(
      async () => (await connectionsOf(applicationName)) === 0,
      "the closed node's connections are gone",
    );
  });

  it("a user logging in twice at once on one node, or on two nodes, gets exactly one session", async () => {
    const schema = freshSchema();
    const nodeA = await testStore({ schema });
    const nodeB = await testStore({ schema });
    // Same node: advisory locks are re-entrant per backend, so only the node's own table stops
    // the second one.
    const sameNode = await Promise.allSettled(
      Array.from({ length: 5 }, () => nodeA.openMaildrop("alice")),
    );
    // Both nodes at once, for another user.
    const bothNodes = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? nodeA : nodeB).openMaildrop("bob")),
    );
    for (const outcomes of [sameNode, bothNodes]) {
      const won = outcomes.filter((o) => o.status === "fulfilled");
      const lost = outcomes.filter((o) => o.status === "rejected");
      expect(won).toHaveLength(1);
      for (const o of lost) expect(o.reason).toBeInstanceOf(MaildropInUseError);
      await (won[0] as PromiseFulfilledResult<Maildrop>).value.release();
    }
    // Released means free again, on either node; and a released session can not unlock twice.
    const again = await nodeB.openMaildrop("alice");
    await again.release();
    await again.release();
    await (await nodeA.openMaildrop("alice")).release();
  });

  it("the lock connection killed from the database: open sessions commit nothing, new logins work", async () => {
    const schema = freshSchema();
    const applicationName = appName();
    const nodeA = await testStore({ schema, applicationName });
    const nodeB = await testStore({ schema });
    const users = ["alice", "bob", "carol"];
    for (const u of users) {
      await nodeA.deliver(u, `Subject: 1\r\n\r\none ${u}\r\n`);
      await nodeA.deliver(u, `Subject: 2\r\n\r\ntwo ${u}\r\n`);
    }
    const before = new Map<string, string[]>();
    for (const u of users)
      before.set(
        u,
        (await nodeA.list(u)).map((m) => m.uid),
      );
    const sessions = await Promise.all(users.map((u) => nodeA.openMaildrop(u)));
    const pid = nodeA.lockBackendPid as number;
    expect(await advisoryLocksOf(pid)).toBe(users.length);

    const [killed] = await sql<{ ok: boolean }>("SELECT pg_terminate_backend($1) AS ok", [pid]);
    expect(killed?.ok).toBe(true);
    await eventually(
      async () => (await advisoryLocksOf(pid)) === 0,
      "the killed backend's locks end",
    );
    // The node hears of it from its connection (PostgreSQL's FATAL message, then the close).
    await eventually(async () => nodeA.lockBackendPid === undefined, "node A notices the loss");

    // The maildrop is free in the database: another node takes it while the old session lives.
    const onB = await nodeB.openMaildrop("alice");
    // Every session of the lost lock connection: reads and commits reject, nothing is deleted.
    for (const [i, md] of sessions.entries()) {
      await expect(readAll(md.read(0))).rejects.toBeInstanceOf(MaildropLockLostError);
      const commit = md.commit(md.messages.map((m) => m.uid));
      await expect(commit).rejects.toBeInstanceOf(MaildropLockLostError);
      await expect(commit).rejects.toMatchObject({ code: "POP3_STORE" });
      const u = users[i] as string;
      expect((await nodeA.list(u)).map((m) => m.uid)).toEqual(before.get(u));
    }
    for (const md of sessions) await md.release();
    // The lost sessions' release did not free node B's lock.
    await expect(nodeA.openMaildrop("alice")).rejects.toBeInstanceOf(MaildropInUseError);
    await onB.release();

    // A new login on node A opens a new lock connection, and its UPDATE works.
    const fresh = await nodeA.openMaildrop("bob");
    const newPid = nodeA.lockBackendPid as number;
    expect(newPid).not.toBe(pid);
    expect(await advisoryLocksOf(newPid)).toBe(1);
    await expect(nodeB.openMaildrop("bob")).rejects.toBeInstanceOf(MaildropInUseError);
    await fresh.commit([fresh.messages[0]?.uid as string]);
    expect((await nodeA.list("bob")).map((m) => m.uid)).toEqual(before.get("bob")?.slice(1));
    expect(await advisoryLocksOf(newPid)).toBe(0);
    expect(await connectionsOf(applicationName)).toBeLessThanOrEqual(
      (nodeA as PostgresStore).options.poolSize + 1,
    );
  });

  it("commit proves the lock in the database: a node that has not yet heard of the loss deletes nothing", async () => {
    const schema = freshSchema();
    const nodeA = await testStore({ schema });
    const nodeB = await testStore({ schema });
    await nodeA.deliver("alice", "one\r\n");
    await nodeA.deliver("alice", "two\r\n");
    const uids = (await nodeA.list("alice")).map((m) => m.uid);
    const md = await nodeA.openMaildrop("alice");
    const pid = nodeA.lockBackendPid as number;
    // Stop reading node A's lock socket, so the news of its end (PostgreSQL's FATAL message and
    // the close) can not reach the node: only the pg_locks proof inside commit can stop it then.
    const [activity] = await sql<{ port: number }>(
      "SELECT client_port AS port FROM pg_stat_activity WHERE pid = $1",
      [pid],
    );
    const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
    const sockets = handles.filter(
      (h): h is Socket => h instanceof Socket && h.localPort === activity?.port,
    );
    expect(sockets).toHaveLength(1);
    const lockSocket = sockets[0] as Socket;
    lockSocket.pause();
    try {
      await sql("SELECT pg_terminate_backend($1)", [pid]);
      await eventually(
        async () => (await advisoryLocksOf(pid)) === 0,
        "the killed backend's locks end",
      );
      const onB = await nodeB.openMaildrop("alice");
      // Node A still believes in its lock connection...
      expect(nodeA.lockBackendPid).toBe(pid);
      // ...but its session's UPDATE finds the lock gone and deletes nothing.
      await expect(md.commit(uids)).rejects.toBeInstanceOf(MaildropLockLostError);
      expect((await nodeB.list("alice")).map((m) => m.uid)).toEqual(uids);
      await onB.release();
      // The failed proof told node A its lock connection is gone: new logins open a new one.
      expect(nodeA.lockBackendPid).toBeUndefined();
      await (await nodeA.openMaildrop("alice")).release();
    } finally {
      lockSocket.resume();
    }
  });

  it("a session opened after the lock connection was replaced is not confused with an old one", async () => {
    const schema = freshSchema();
    const node = await testStore({ schema });
    await node.deliver("alice", "one\r\n");
    const old = await node.openMaildrop("alice");
    const pid = node.lockBackendPid as number;
    await sql("SELECT pg_terminate_backend($1)", [pid]);
    await eventually(async () => node.lockBackendPid === undefined, "the node notices the loss");
    // The node knows the old session's lock is gone: the same user may log in again here.
    const renewed = await node.openMaildrop("alice");
    // The old session's release must not unlock the new session's lock on the new backend.
    await old.release();
    expect(await advisoryLocksOf(node.lockBackendPid as number)).toBe(1);
    const other = await testStore({ schema });
    await expect(other.openMaildrop("alice")).rejects.toBeInstanceOf(MaildropInUseError);
    await renewed.commit([renewed.messages[0]?.uid as string]);
    expect(await node.list("alice")).toEqual([]);
  });
});
