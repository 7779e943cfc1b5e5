/**
 * The CopyDataTap reads a connection's socket while a COPY sends its data and hands the rest to
 * pg. First on a plain stream, cut at every place (a message header, a payload, the hand-over
 * point may fall anywhere in a socket read); then on real PostgreSQL connections, with notices
 * and an error in the middle of the copy, and the connection used again afterwards.
 */
import { PassThrough } from "node:stream";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CopyDataTap } from "../src/copy-data-tap";
import { ByteaCopy } from "../src/copy-out";
import { describeWithPostgres, freshSchema, PG_URL } from "./support";

function message(type: string, payload: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, "latin1");
  header.writeUInt32BE(payload.length + 4, 1);
  return Buffer.concat([header, payload]);
}

const copyOutResponse = message("H", Buffer.from([1, 0, 1, 0, 1]));
const data = [
  Buffer.from("PGCOPY\n\xff\r\n\0"),
  Buffer.alloc(0),
  Buffer.alloc(700, 0x2e),
  Buffer.from("x"),
];
const copyData = data.map((payload) => message("d", payload));
const copyDone = message("c", Buffer.alloc(0));
const notice = message("N", Buffer.from("SNOTICE\0Mhello\0\0", "latin1"));
const after = Buffer.concat([
  message("C", Buffer.from("COPY 3\0")),
  message("Z", Buffer.from("I")),
]);

interface Outcome {
  readonly tapped: Buffer;
  readonly toPg: Buffer;
  readonly listeners: readonly unknown[];
  readonly pgListener: unknown;
}

/** Feeds `bytes` cut at `cuts` through a tap on a stream whose `data` listener stands for pg's. */
function run(bytes: Buffer, cuts: readonly number[]): Outcome {
  const stream = new PassThrough();
  const toPg: Buffer[] = [];
  const pgListener = (chunk: Buffer): void => {
    toPg.push(Buffer.from(chunk));
  };
  stream.on("data", pgListener);
  const tapped: Buffer[] = [];
  new CopyDataTap(stream, (piece) => tapped.push(Buffer.from(piece)));
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut > at) stream.emit("data", bytes.subarray(at, cut));
    at = Math.max(at, cut);
  }
  return {
    tapped: Buffer.concat(tapped),
    toPg: Buffer.concat(toPg),
    listeners: stream.listeners("data"),
    pgListener,
  };
}

describe("CopyDataTap", () => {
  it("takes the copy's data and gives pg the rest from its first byte, wherever reads are cut", () => {
    const bytes = Buffer.concat([copyOutResponse, ...copyData, copyDone, after]);
    for (let first = 0; first <= bytes.length; first++) {
      for (const second of [first, first + 1, first + 4, first + 9]) {
        const got = run(bytes, [first, Math.min(second, bytes.length)]);
        if (!got.tapped.equals(Buffer.concat(data)) || !got.toPg.equals(after)) {
          throw new Error(`wrong split with reads cut at ${first} and ${second}`);
        }
        expect(got.listeners).toEqual([got.pgListener]);
      }
    }
  });

  it("lets go at a notice in the middle of the copy; pg gets the notice and the data after it", () => {
    const bytes = Buffer.concat([
      copyOutResponse,
      copyData[0]!,
      copyData[1]!,
      notice,
      copyData[2]!,
      copyData[3]!,
      copyDone,
      after,
    ]);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const got = run(bytes, [cut]);
      expect(got.tapped.equals(Buffer.concat([data[0]!, data[1]!]))).toBe(true);
      expect(
        got.toPg.equals(Buffer.concat([notice, copyData[2]!, copyData[3]!, copyDone, after])),
      ).toBe(true);
    }
  });

  it("takes nothing when the answer does not start with a one-column CopyOutResponse", () => {
    const error = message("E", Buffer.from("SERROR\0Mno\0\0", "latin1"));
    const twoColumns = message("H", Buffer.from([1, 0, 2, 0, 1, 0, 1]));
    for (const bytes of [
      Buffer.concat([error, after]),
      Buffer.concat([twoColumns, ...copyData, after]),
    ]) {
      for (let cut = 0; cut <= bytes.length; cut++) {
        const got = run(bytes, [cut]);
        expect(got.tapped.length).toBe(0);
        expect(got.toPg.equals(bytes)).toBe(true);
      }
    }
  });
});

describeWithPostgres("ByteaCopy on a real connection", () => {
  const schema = freshSchema();
  let client: pg.Client;
  const values = [
    Buffer.alloc(0),
    Buffer.from([0, 0xff, 0x0d, 0x0a, 0x2e, 0x80]),
    Buffer.alloc(3 * 1024 * 1024 + 17, 0x41),
    Buffer.from("Subject: x\r\n\r\n.\r\n"),
  ];
  values[2]!.write("the middle", 1_500_000);

  beforeAll(async () => {
    client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`CREATE SCHEMA ${schema}`);
    await client.query(`CREATE TABLE ${schema}.v (id int PRIMARY KEY, bytes bytea NOT NULL)`);
    for (const [id, bytes] of values.entries()) {
      await client.query(`INSERT INTO ${schema}.v VALUES ($1, $2)`, [id, bytes]);
    }
    // A function that says something (a NoticeResponse) before each row it passes on, and one
    // that fails at the third row: both arrive in the middle of the CopyData.
    await client.query(`CREATE FUNCTION ${schema}.noisy(b bytea) RETURNS bytea LANGUAGE plpgsql AS
      $$ BEGIN RAISE NOTICE 'row of % bytes', length(b); RETURN b; END $$`);
    await client.query(`CREATE FUNCTION ${schema}.fails(id int, b bytea) RETURNS bytea LANGUAGE plpgsql AS
      $$ BEGIN IF id = 2 THEN RAISE EXCEPTION 'no row 2 today'; END IF; RETURN b; END $$`);
  });

  afterAll(async () => {
    await client?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client?.end();
  });

  /** The values as the copy gives them, each compared (Buffer.equals: toEqual is slow on MBs). */
  const copy = async (select: string): Promise<boolean[]> =>
    (await client.query(new ByteaCopy(`COPY (${select}) TO STDOUT (FORMAT binary)`)).result).map(
      (pieces, i) => Buffer.concat(pieces).equals(values[i] ?? Buffer.alloc(0)),
    );
  const all = values.map(() => true);

  it("gives every value byte for byte, and the connection answers the next query", async () => {
    // Through the tap, the 3 MiB value is the socket's reads (views, several); through pg's
    // parser it would be one copied CopyData payload.
    const raw = await client.query(
      new ByteaCopy(`COPY (SELECT bytes FROM ${schema}.v WHERE id = 2) TO STDOUT (FORMAT binary)`),
    ).result;
    expect(raw[0]!.length).toBeGreaterThan(8);
    expect(await copy(`SELECT bytes FROM ${schema}.v ORDER BY id`)).toEqual(all);
    expect((await client.query("SELECT 41 + 1 AS n")).rows).toEqual([{ n: 42 }]);
    expect(await copy(`SELECT bytes FROM ${schema}.v WHERE id IN (0, 1) ORDER BY id`)).toEqual([
      true,
      true,
    ]);
  });

  it("with notices between the rows (pg reads the rest): the same bytes", async () => {
    const notices: string[] = [];
    const onNotice = (n: { message?: string | undefined }): void => {
      notices.push(n.message ?? "");
    };
    client.on("notice", onNotice);
    try {
      expect(await copy(`SELECT ${schema}.noisy(bytes) FROM ${schema}.v ORDER BY id`)).toEqual(all);
    } finally {
      client.off("notice", onNotice);
    }
    expect(notices).toEqual(values.map((v) => `row of ${v.length} bytes`));
    expect((await client.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
  });

  it("an error in the middle of the copy rejects with it; the connection stays usable", async () => {
    await expect(
      copy(`SELECT ${schema}.fails(id, bytes) FROM ${schema}.v ORDER BY id`),
    ).rejects.toThrow(/no row 2 today/);
    expect(await copy(`SELECT bytes FROM ${schema}.v ORDER BY id`)).toEqual(all);
  });
});
