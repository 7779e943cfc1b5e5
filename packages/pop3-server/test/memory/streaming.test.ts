import { connect } from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { createServer, type Maildrop, type MailStore, staticUsers } from "../../src/index";

// 128 MiB: many times what the server may hold, so buffering the message (or a good part of it)
// fails the limits below, yet small enough to stream in seconds on a slow, loaded CI machine.
// MEMTEST_BYTES=1073741824 runs the 1 GiB version.
const SIZE = Number(process.env["MEMTEST_BYTES"] ?? 128 * 1024 * 1024);
const CHUNK = 64 * 1024;

// Garbage waiting for the collector is not memory the server holds: collect before sampling.
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

/** A store with one generated message of `size` bytes: nothing is kept, every chunk is fresh. */
function generatedStore(size: number): MailStore {
  // 64-byte lines, so every chunk starts a line, and that line starts with a dot to be stuffed.
  const line = Buffer.from(`${"x".repeat(62)}\r\n`);
  const template = Buffer.alloc(CHUNK);
  for (let i = 0; i < CHUNK; i += line.length) line.copy(template, i);
  template[0] = 0x2e;
  return {
    async openMaildrop(): Promise<Maildrop> {
      return {
        messages: [{ uid: "big", size }],
        async *read() {
          for (let sent = 0; sent < size; sent += CHUNK) {
            yield Buffer.from(template.subarray(0, Math.min(CHUNK, size - sent)));
          }
        },
        commit: async () => {},
        release: async () => {},
      };
    },
  };
}

describe("streaming a large message", () => {
  it("RETR of a 128 MiB message keeps the server's memory flat (backpressure, no buffering)", async () => {
    const server = createServer({
      store: generatedStore(SIZE),
      auth: staticUsers({ alice: "wonderland" }),
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

    const received = await new Promise<{ bytes: number; tail: string }>((resolve, reject) => {
      const socket = connect(plain?.port ?? 0, "127.0.0.1");
      let bytes = 0;
      let tail = "";
      let phase = 0;
      socket.on("data", (chunk: Buffer) => {
        if (phase < 3) {
          // Greeting, USER, PASS: count line ends, then ask for the message.
          const text = chunk.toString("latin1");
          phase += text.split("\r\n").length - 1;
          if (phase === 1) socket.write("USER alice\r\nPASS wonderland\r\n");
          if (phase === 3) socket.write("RETR 1\r\n");
          return;
        }
        bytes += chunk.length;
        tail = (tail + chunk.toString("latin1")).slice(-5);
        if (tail === "\r\n.\r\n") {
          socket.end("QUIT\r\n");
          resolve({ bytes, tail });
        }
      });
      socket.on("error", reject);
    });
    clearInterval(sampler);
    await server.close();

    // +OK line, the body with one stuffed dot per 64 KiB chunk, and the terminator.
    const chunks = SIZE / CHUNK;
    expect(received.bytes).toBe(`+OK ${SIZE} octets\r\n`.length + SIZE + chunks + 3);
    const mb = (n: number) => (n / 1e6).toFixed(1);
    console.log(
      `streaming ${mb(SIZE)} MB: peak heap growth ${mb(peak.heap)} MB, I/O buffers ${mb(peak.buffers)} MB`,
    );
    // The heap holds what the server keeps for the connection, whatever the message size; I/O
    // buffers are the chunks in flight (well under 1 MB). Buffering the message would show in the
    // buffers as its whole size: the limit is a quarter of it.
    expect(peak.heap).toBeLessThan(4 * 1024 * 1024);
    expect(peak.buffers).toBeLessThan(SIZE / 4);
    // A few seconds here; the timeout is only there to catch a hang.
  }, 300_000);
});
