/**
 * Two pop3-server nodes on one PostgreSQL database, for real: node A is a child process (so it
 * can be SIGKILLed), node B runs in this process. Clients are pop3-client.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { connect, type Pop3Client, ServerReplyError } from "pop3-client";
import { createServer, type Pop3Server, staticUsers } from "pop3-server";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { createPostgresStore, type PostgresStore } from "../src/index";
import {
  describeWithPostgres,
  freshSchema,
  PACKAGE_DIR,
  PG_URL,
  POSTGRES_SCRIPT,
  REQUIRE_PEERS,
  sql,
} from "./support";

const USERS = { alice: "alice-secret", bob: "bob-secret", carol: "carol-secret" };
/** Set by `postgres.sh env`: the database is our private cluster, which the tests may restart. */
const CAN_RESTART = process.env["POP3_PG_SCRIPT"] !== undefined || REQUIRE_PEERS;

interface NodeA {
  readonly port: number;
  readonly child: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

async function startNodeA(schema: string): Promise<NodeA> {
  const script = join(PACKAGE_DIR, "test/fixtures/node.mjs");
  if (!existsSync(join(PACKAGE_DIR, "dist/index.js"))) {
    throw new Error("pop3-store-postgres is not built: run `pnpm build` (turbo does before tests)");
  }
  const child = spawn(process.execPath, [script], {
    cwd: PACKAGE_DIR,
    env: {
      ...process.env,
      POP3_PG_URL: PG_URL,
      NODE_SCHEMA: schema,
      NODE_USERS: JSON.stringify(USERS),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const timer = setTimeout(() => reject(new Error(`node A did not start:\n${stderr}`)), 20_000);
    lines.once("line", (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`node A exited with ${code}:\n${stderr}`));
    });
  });
  return {
    port,
    child,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

async function client(port: number): Promise<Pop3Client> {
  return connect({ host: "127.0.0.1", port, tls: "none", timeouts: { command: 20_000 } });
}

async function login(port: number, user: keyof typeof USERS = "alice"): Promise<Pop3Client> {
  const c = await client(port);
  try {
    await c.login({ user, password: USERS[user], mechanism: "USER" });
  } catch (error) {
    c.close();
    throw error;
  }
  return c;
}

/** The response code of a login that failed (`IN-USE`, `SYS/TEMP`, ...). */
async function loginRefusal(port: number, user: keyof typeof USERS = "alice"): Promise<string> {
  try {
    const c = await login(port, user);
    await c.quit();
    return "ok";
  } catch (error) {
    if (error instanceof ServerReplyError) return error.responseCode ?? "none";
    throw error;
  }
}

function script(command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("bash", [POSTGRES_SCRIPT, command], { timeout: 120_000 }, (error, _out, stderr) => {
      if (error) reject(new Error(`postgres.sh ${command} failed: ${stderr}`));
      else resolve();
    });
  });
}

describeWithPostgres("two pop3-server nodes on one PostgreSQL database", () => {
  const schema = freshSchema();
  let store: PostgresStore;
  let nodeB: Pop3Server;
  let portB = 0;
  let nodeA: NodeA | undefined;
  const clients: Pop3Client[] = [];
  const logs: string[] = [];

  beforeAll(async () => {
    store = await createPostgresStore({ connectionString: PG_URL as string, schema, poolSize: 10 });
    const record = (fields: Record<string, unknown>, message: string): void => {
      logs.push(`${message} ${JSON.stringify(fields)}`);
    };
    nodeB = createServer({
      store,
      auth: staticUsers(USERS),
      plain: { host: "127.0.0.1", port: 0 },
      allowCleartextAuth: true,
      hostname: "node-b.test",
      limits: { failedLoginDelayMs: 0 },
      logger: { debug: () => {}, info: record, warn: record, error: record },
    });
    portB = (await nodeB.listen()).plain?.port ?? 0;
    nodeA = await startNodeA(schema);
  });

  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });

  afterAll(async () => {
    await nodeA?.stop();
    await nodeB?.close();
    await sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
  });

  const tracked = async (promise: Promise<Pop3Client>): Promise<Pop3Client> => {
    const c = await promise;
    clients.push(c);
    return c;
  };

  it("a session on node A makes node B answer [IN-USE], and the other way round", async () => {
    for (let i = 0; i < 3; i++) await store.deliver("alice", `Subject: ${i}\r\n\r\nbody ${i}\r\n`);
    const a = await tracked(login(nodeA!.port));
    expect((await a.stat()).count).toBe(3);
    expect(await loginRefusal(portB)).toBe("IN-USE");
    // Another user is free on either node.
    await (await login(portB, "bob")).quit();
    await a.quit();
    const b = await tracked(login(portB));
    expect(await loginRefusal(nodeA!.port)).toBe("IN-USE");
    await b.quit();
  });

  it("deletions made through node A are seen by node B; nothing else changes", async () => {
    for (let i = 0; i < 4; i++) await store.deliver("bob", `Subject: ${i}\r\n\r\nbody ${i}\r\n`);
    const a = await tracked(login(nodeA!.port, "bob"));
    const before = await a.uidl();
    expect(before).toHaveLength(4);
    await a.delete(1);
    await a.delete(3);
    expect((await a.quit()).committed).toBe(true);

    const b = await tracked(login(portB, "bob"));
    const after = await b.uidl();
    expect(after.map((u) => u.uid)).toEqual([before[1]!.uid, before[3]!.uid]);
    expect((await b.retrieveBytes(1)).toString()).toBe("Subject: 1\r\n\r\nbody 1\r\n");
    await b.quit();
  });

  it("killing node A's process releases its lock: node B opens the maildrop, nothing deleted", async () => {
    for (let i = 0; i < 2; i++) await store.deliver("carol", `Subject: ${i}\r\n\r\nbody ${i}\r\n`);
    const a = await tracked(login(nodeA!.port, "carol"));
    await a.delete(1); // marked only: the session never reaches UPDATE
    expect(await loginRefusal(portB, "carol")).toBe("IN-USE");

    await nodeA!.stop("SIGKILL");
    // The kernel closes the dead process's sockets; PostgreSQL ends the backend and its locks.
    const deadline = Date.now() + 15_000;
    let outcome = await loginRefusal(portB, "carol");
    while (outcome === "IN-USE" && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      outcome = await loginRefusal(portB, "carol");
    }
    expect(outcome).toBe("ok");
    expect(await store.list("carol")).toHaveLength(2);
    nodeA = await startNodeA(schema);
  });

  it.skipIf(!CAN_RESTART)(
    "a database restart in the middle of a session loses nothing and half-deletes nothing",
    async () => {
      const user = "alice";
      const uids = (await store.list(user)).map((m) => m.uid);
      expect(uids.length).toBeGreaterThanOrEqual(3);
      const b = await tracked(login(portB, user));
      const reader = await tracked(login(nodeA!.port, "bob"));
      await b.delete(1);
      await b.delete(2);

      await script("stop");
      try {
        // The outage itself: logins and deliveries answer [SYS/TEMP], on both nodes.
        expect(await loginRefusal(portB, "carol")).toBe("SYS/TEMP");
        expect(await loginRefusal(nodeA!.port, "carol")).toBe("SYS/TEMP");
        await expect(store.deliver(user, "lost?\r\n")).rejects.toMatchObject({
          code: "POP3_STORE",
        });
      } finally {
        await script("start");
      }

      // The session's connection (and its lock) died with the old server: the UPDATE fails
      // with [SYS/TEMP] and removes nothing; reading fails the same way on the other node.
      await expect(reader.retrieveBytes(1)).rejects.toMatchObject({ responseCode: "SYS/TEMP" });
      const quit = await b.quit();
      expect(quit.committed).toBe(false);
      expect(quit.reply).toMatchObject({ ok: false, code: "SYS/TEMP" });
      expect(logs.some((l) => l.startsWith("update failed"))).toBe(true);

      // Everything is still there, and both nodes work again with fresh connections.
      expect((await store.list(user)).map((m) => m.uid)).toEqual(uids);
      const again = await tracked(login(portB, user));
      expect((await again.uidl()).map((u) => u.uid)).toEqual(uids);
      await again.delete(1);
      expect((await again.quit()).committed).toBe(true);
      const onA = await tracked(login(nodeA!.port, user));
      expect((await onA.uidl()).map((u) => u.uid)).toEqual(uids.slice(1));
      await onA.quit();
    },
  );
});
