/**
 * A large message goes into PostgreSQL and out through a RETR in chunks: neither the delivery
 * nor the RETR holds it whole. Size: POP3_PG_MEMTEST_BYTES (default 128 MiB, the issue's round
 * trip).
 *
 * The test asserts memory, never time: how fast this runs is `pnpm bench`'s business (its
 * "round trip" row: ~4-7 s here since RETR reads by binary COPY). It once hit vitest's 60 s
 * timeout on a loaded 2-CPU CI machine (84 s, with hex SELECTs); the timeout below only catches a
 * hang. The limits are fractions of the size, so holding the message would fail them.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { connect } from "pop3-client";
import { createServer, staticUsers } from "pop3-server";
import { expect, it } from "vitest";
import { cleanUpStores, describeWithPostgres, testStore } from "./support";

cleanUpStores();

const SIZE = Number(process.env["POP3_PG_MEMTEST_BYTES"] ?? 128 * 1024 * 1024);

/**
 * Held whole, the message would add at least SIZE to one of these (its bytes as a Buffer, or twice
 * that as the hex text PostgreSQL sends). Streamed, the heap keeps about a chunk (measured:
 * 0.7-1.0 MB) and the I/O buffers hold the chunks in flight, which do not grow with the size
 * (measured: 8-17 MB for 32-128 MiB messages). At 128 MiB the buffer limit is 64 MiB: several
 * times the most seen in flight, and half of what holding the message would take.
 */
const HEAP_LIMIT = SIZE / 8;
const BUFFER_LIMIT = SIZE / 2;

/**
 * Ten minutes only catches a hang (a slow machine takes a fraction of it); the memory limits are
 * the assertion.
 */
const TIMEOUT_MS = 600_000;

setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

function sample(): { heap: number; buffers: number } {
  collectGarbage();
  const usage = process.memoryUsage();
  return { heap: usage.heapUsed, buffers: usage.arrayBuffers };
}

/** The message, generated piece by piece: 64-byte lines, a dot line now and then. */
async function* generated(size: number): AsyncGenerator<Uint8Array> {
  const line = Buffer.from(`${"x".repeat(62)}\r\n`);
  const piece = Buffer.alloc(64 * 1024);
  for (let i = 0; i < piece.length; i += line.length) line.copy(piece, i);
  piece[0] = 0x2e;
  for (let sent = 0; sent < size; sent += piece.length) {
    yield Buffer.from(piece.subarray(0, Math.min(piece.length, size - sent)));
  }
}

describeWithPostgres("PostgresStore memory", () => {
  it(`delivers and RETRs ${SIZE >> 20} MiB with flat memory`, { timeout: TIMEOUT_MS }, async () => {
    const store = await testStore({ poolSize: 4 });
    const server = createServer({
      store,
      auth: staticUsers({ alice: "secret" }),
      plain: { host: "127.0.0.1", port: 0 },
      allowCleartextAuth: true,
    });
    const { plain } = await server.listen();
    const baseline = sample();
    const peak = { heap: 0, buffers: 0 };
    const sampler = setInterval(() => {
      const now = sample();
      peak.heap = Math.max(peak.heap, now.heap - baseline.heap);
      peak.buffers = Math.max(peak.buffers, now.buffers - baseline.buffers);
    }, 50);
    try {
      const { size } = await store.deliver("alice", generated(SIZE));
      expect(size).toBeGreaterThanOrEqual(SIZE);
      const client = await connect({ host: "127.0.0.1", port: plain?.port ?? 0, tls: "none" });
      await client.login({ user: "alice", password: "secret", mechanism: "USER" });
      const stream = await client.retrieve(1);
      let received = 0;
      for await (const chunk of stream) received += (chunk as Buffer).length;
      expect(received).toBe(size);
      await client.quit();
    } finally {
      clearInterval(sampler);
      await server.close();
    }
    const mb = (n: number): string => (n / 1e6).toFixed(1);
    console.log(
      `deliver + RETR of ${mb(SIZE)} MB: peak heap growth ${mb(peak.heap)} MB, I/O buffers ${mb(peak.buffers)} MB`,
    );
    // The heap holds what is kept (a chunk, its hex text from the database); I/O buffers are
    // chunks in flight that the collector frees behind the stream.
    expect(peak.heap).toBeLessThan(HEAP_LIMIT);
    expect(peak.buffers).toBeLessThan(BUFFER_LIMIT);
  });
});
