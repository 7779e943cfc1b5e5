import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { connect } from "pop3-client";
import { createServer, type MailStore, staticUsers } from "pop3-server";
import { describe, expect, it } from "vitest";

// 128 MiB: many times what client and server may hold, so buffering the message (or a good part
// of it) on either side fails the limit below, yet small enough to stream in seconds on a slow,
// loaded CI machine. MEMTEST_BYTES=1073741824 runs the 1 GiB version.
const SIZE = Number(process.env["MEMTEST_BYTES"] ?? 128 * 1024 * 1024);
const CHUNK = 64 * 1024;

setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

function sample(): { heap: number; buffers: number } {
  // Twice: after one collection, the backing stores of dead Buffers may not be freed yet and
  // show as up to ~20 MB of noise in arrayBuffers; after the second they are gone.
  collectGarbage();
  collectGarbage();
  const usage = process.memoryUsage();
  return { heap: usage.heapUsed, buffers: usage.arrayBuffers };
}

/** One generated message of `SIZE` bytes in 64-byte lines: nothing is stored anywhere. */
function generatedStore(): MailStore {
  const line = Buffer.from(`${"y".repeat(62)}\r\n`);
  const template = Buffer.alloc(CHUNK);
  for (let i = 0; i < CHUNK; i += line.length) line.copy(template, i);
  return {
    async openMaildrop() {
      return {
        messages: [{ uid: "huge", size: SIZE }],
        async *read() {
          for (let sent = 0; sent < SIZE; sent += CHUNK)
            yield Buffer.from(template.subarray(0, Math.min(CHUNK, SIZE - sent)));
        },
        commit: async () => {},
        release: async () => {},
      };
    },
  };
}

describe("client memory", () => {
  it("streams a 128 MiB message with flat memory, client and server in one process", async () => {
    await using server = createServer({
      store: generatedStore(),
      auth: staticUsers({ alice: "wonderland" }),
      plain: { host: "127.0.0.1", port: 0 },
      allowCleartextAuth: true,
    });
    const { plain } = await server.listen();
    await using client = await connect({
      host: "127.0.0.1",
      port: plain?.port as number,
      tls: "none",
    });
    await client.login({ user: "alice", password: "wonderland" });

    const baseline = sample();
    const peak = { heap: 0, buffers: 0 };
    const timer = setInterval(() => {
      const now = sample();
      peak.heap = Math.max(peak.heap, now.heap - baseline.heap);
      peak.buffers = Math.max(peak.buffers, now.buffers - baseline.buffers);
    }, 50);
    let received = 0;
    const stream = await client.retrieve(1);
    for await (const chunk of stream) received += (chunk as Buffer).length;
    clearInterval(timer);

    expect(received).toBe(SIZE);
    const mb = (n: number) => (n / 1e6).toFixed(1);
    console.log(
      `client+server streaming ${mb(SIZE)} MB: heap growth ${mb(peak.heap)} MB, I/O buffers ${mb(peak.buffers)} MB`,
    );
    // Under 1 MB is usual; holding the message on either side would show as its whole size.
    expect(peak.heap + peak.buffers).toBeLessThan(SIZE / 4);
    // A few seconds here; the timeout is only there to catch a hang.
  }, 300_000);
});
