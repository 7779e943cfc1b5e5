import { randomBytes } from "node:crypto";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe } from "vitest";
import { createPostgresStore, type PostgresStore, type PostgresStoreOptions } from "../src/index";

/** `postgres://...` of the test database (scripts/postgres/postgres.sh env), if any. */
export const PG_URL = process.env["POP3_PG_URL"];
/** CI sets this: a missing database then fails the tests instead of skipping them. */
export const REQUIRE_PEERS = process.env["POP3_REQUIRE_PEERS"] === "1";

export const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const REPO_DIR = resolve(PACKAGE_DIR, "../..");
export const POSTGRES_SCRIPT =
  process.env["POP3_PG_SCRIPT"] ?? resolve(REPO_DIR, "scripts/postgres/postgres.sh");

/**
 * `describe` for tests that need the database: skipped (and says why) without POP3_PG_URL,
 * failed with POP3_REQUIRE_PEERS=1.
 */
export function describeWithPostgres(title: string, body: () => void): void {
  if (PG_URL !== undefined && PG_URL !== "") {
    describe(title, body);
    return;
  }
  const reason =
    'POP3_PG_URL is not set (start the test database: eval "$(bash scripts/postgres/postgres.sh start >&2 && bash scripts/postgres/postgres.sh env)")';
  if (REQUIRE_PEERS) {
    describe(title, () => {
      beforeAll(() => {
        throw new Error(`POP3_REQUIRE_PEERS=1 but ${reason}`);
      });
      body();
    });
    return;
  }
  const skipped = `${title} — SKIPPED: ${reason}; set POP3_REQUIRE_PEERS=1 to fail instead`;
  console.warn(`[postgres] ${skipped}`);
  describe.skip(skipped, body);
}

/** A fresh schema name, so tests never see each other's maildrops. */
export function freshSchema(): string {
  return `t_${randomBytes(6).toString("hex")}`;
}

const schemasToDrop = new Set<string>();
const storesToClose = new Set<PostgresStore>();

/**
 * A migrated store on the test database, in `schema` (fresh by default), closed after the test;
 * its schema is dropped after the file.
 */
export async function testStore(
  options: Partial<PostgresStoreOptions> = {},
): Promise<PostgresStore> {
  const schema = options.schema ?? freshSchema();
  schemasToDrop.add(schema);
  const store = await createPostgresStore({
    connectionString: PG_URL as string,
    poolSize: 10,
    ...options,
    schema,
  });
  storesToClose.add(store);
  return store;
}

/** Registers the cleanup hooks of `testStore` in the calling file. */
export function cleanUpStores(): void {
  afterEach(async () => {
    const stores = [...storesToClose];
    storesToClose.clear();
    await Promise.all(stores.map((store) => store.close().catch(() => {})));
  });
  afterAll(async () => {
    if (schemasToDrop.size === 0 || PG_URL === undefined) return;
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      for (const schema of schemasToDrop) {
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      }
    } finally {
      await client.end();
    }
    schemasToDrop.clear();
  });
}

/** One query on a connection of its own. */
export async function sql<R extends pg.QueryResultRow = pg.QueryResultRow>(
  text: string,
  values: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}
