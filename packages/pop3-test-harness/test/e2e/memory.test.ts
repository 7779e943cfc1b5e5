import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { connect } from "pop3-client";
import { createServer, type MailStore, staticUsers } from "pop3-server";
import { describe, expect, it } from "vitest";

const SIZE = Number(process.env["MEMTEST_BYTES"] ?? 1024 * 1024 * 1024);
const CHUNK = 64 * 1024;

setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

function sample(): { heap: number; buffers: number } {
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
  it("streams a 1 GiB message with flat memory, client and server in one process", async () => {
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
    expect(peak.heap + peak.buffers).toBeLessThan(64 * 1024 * 1024);
  }, 120_000);
});
