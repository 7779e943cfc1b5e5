/**
 * The pool through PgBouncer in transaction mode, the lock connection straight to PostgreSQL
 * (`lockConnectionString`). PgBouncer gives each transaction (or single statement) whichever
 * server connection is free: anything session-level on a pooled connection (a named prepared
 * statement, a SET, an advisory lock) would land on another client's backend. With 2 server
 * connections (postgres.sh's PgBouncer) behind two nodes' pools and 40 sessions, everything the
 * store does on the pool is tested here.
 */
import { execFile } from "node:child_process";
import { afterAll, expect, it } from "vitest";
import { createPostgresStore } from "../src/index";
import { CAN_MAKE_CLUSTERS } from "./children";
import {
  cleanUpStores,
  describeWithPostgres,
  freshSchema,
  PG_URL,
  POSTGRES_SCRIPT,
  sql,
  testStore,
} from "./support";

cleanUpStores();

function script(command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("bash", [POSTGRES_SCRIPT, command], { timeout: 60_000 }, (error, out, stderr) => {
      if (error) reject(new Error(`postgres.sh ${command}: ${stderr}`));
      else resolve(out);
    });
  });
}

/** PgBouncer is there when postgres.sh start could install it (as root: CI). */
async function pgbouncerUrl(): Promise<string | undefined> {
  if (!CAN_MAKE_CLUSTERS) return undefined;
  await script("pgbouncer-start");
  return /POP3_PGBOUNCER_URL=(\S+)/.exec(await script("pgbouncer-env"))?.[1];
}

describeWithPostgres(
  "pool through PgBouncer (transaction mode), locks on a direct connection",
  () => {
    afterAll(async () => {
      if (CAN_MAKE_CLUSTERS) await script("pgbouncer-stop");
    });

    it.skipIf(!CAN_MAKE_CLUSTERS)(
      "sessions, reads, read-ahead, UPDATE and [IN-USE] work",
      { timeout: 300_000 },
      async () => {
        const bouncer = await pgbouncerUrl();
        expect(bouncer).toBeDefined();
        const schema = freshSchema();
        const options = {
          schema,
          connectionString: bouncer as string,
          lockConnectionString: PG_URL as string,
          chunkSize: 64 * 1024,
        };
        const nodeA = await testStore({ ...options, poolSize: 4 });
        const nodeB = await testStore({ ...options, poolSize: 4 });
        const users = Array.from({ length: 40 }, (_, i) => `user${i}`);
        const body = (u: string, i: number) =>
          `Subject: ${u} ${i}\r\n\r\n${`${u}.${i} `.repeat(2000)}\r\n`;
        await Promise.all(
          users.map(async (u) => {
            for (let i = 0; i < 5; i++) await nodeA.deliver(u, body(u, i));
            await nodeA.deliver(u, Buffer.alloc(300_000, `${u} large\r\n`));
          }),
        );
        // 40 sessions at once on both nodes, each reading everything (read-ahead of the small ones,
        // batches of the large one) and deleting two.
        await Promise.all(
          users.map(async (u, i) => {
            const node = i % 2 === 0 ? nodeA : nodeB;
            const md = await node.openMaildrop(u);
            await expect((i % 2 === 0 ? nodeB : nodeA).openMaildrop(u)).rejects.toMatchObject({
              code: "POP3_IN_USE",
            });
            expect(md.messages).toHaveLength(6);
            for (let m = 0; m < 5; m++) {
              const parts: Buffer[] = [];
              for await (const c of md.read(m)) parts.push(Buffer.from(c));
              expect(Buffer.concat(parts).toString()).toBe(body(u, m));
            }
            let large = 0;
            for await (const c of md.read(5)) large += c.length;
            expect(large).toBe(300_000);
            await md.commit([md.messages[0]?.uid as string, md.messages[5]?.uid as string]);
          }),
        );
        for (const u of users) expect(await nodeB.list(u)).toHaveLength(4);
      },
    );

    it.skipIf(!CAN_MAKE_CLUSTERS)(
      "a lockConnectionString to another database fails the start",
      async () => {
        const other = `pop3_other_${freshSchema()}`;
        await sql(`CREATE DATABASE ${other}`);
        try {
          const wrong = (PG_URL as string).replace(/\/[^/]+$/, `/${other}`);
          await expect(
            createPostgresStore({
              connectionString: PG_URL as string,
              lockConnectionString: wrong,
              schema: freshSchema(),
            }),
          ).rejects.toThrow(/lockConnectionString does not reach/);
        } finally {
          await sql(`DROP DATABASE ${other}`);
        }
      },
    );
  },
);
