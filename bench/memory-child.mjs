// Memory of one client fetching one big message, alone in a fresh process (started by
// client.bench.mjs with --expose-gc, so nothing else's garbage or JIT state is counted).
//
//   node --expose-gc memory-child.mjs <ours|node-pop3> PORT USER PASSWORD EXPECTED_OCTETS
//
// Samples process.memoryUsage() every 50 ms right after a full gc(), from just before RETR until
// the message is consumed, and prints one JSON line: the peak growth over the baseline of the
// JS heap, of ArrayBuffers (Buffers live there), of their sum and of RSS, the peak RSS from
// getrusage (which a 50 ms sampler cannot miss), and what is still held at the end.
import { performance } from "node:perf_hooks";

const [which, port, user, password, expected] = process.argv.slice(2);
const gc = globalThis.gc;
if (typeof gc !== "function") throw new Error("run with node --expose-gc");
const host = "127.0.0.1";

function sample() {
  gc();
  return process.memoryUsage();
}

async function measure(login, fetch) {
  await login();
  const base = sample();
  const peak = { heap: 0, buffers: 0, sum: 0, rss: 0 };
  const record = () => {
    const now = sample();
    const heap = now.heapUsed - base.heapUsed;
    const buffers = now.arrayBuffers - base.arrayBuffers;
    peak.heap = Math.max(peak.heap, heap);
    peak.buffers = Math.max(peak.buffers, buffers);
    peak.sum = Math.max(peak.sum, heap + buffers);
    peak.rss = Math.max(peak.rss, now.rss - base.rss);
  };
  const timer = setInterval(record, 50);
  const start = performance.now();
  let held;
  let received;
  try {
    [received, held] = await fetch();
  } finally {
    clearInterval(timer);
  }
  const seconds = (performance.now() - start) / 1000;
  record();
  const end = sample();
  const result = {
    which,
    received,
    expected: Number(expected),
    seconds,
    peakHeap: peak.heap,
    peakBuffers: peak.buffers,
    peakSum: peak.sum,
    peakRss: peak.rss,
    maxRssGrowth: process.resourceUsage().maxRSS * 1024 - base.rss,
    heldAtEnd: end.heapUsed - base.heapUsed + (end.arrayBuffers - base.arrayBuffers),
  };
  if (held === -1) console.log(held);
  return result;
}

let result;
if (which === "ours") {
  const { connect } = await import("pop3-client");
  let client;
  result = await measure(
    async () => {
      client = await connect({ host, port: Number(port), tls: "none" });
      await client.login({ user, password });
    },
    async () => {
      let received = 0;
      const stream = await client.retrieve(1);
      for await (const chunk of stream) received += chunk.length; // consumed and discarded
      return [received, undefined];
    },
  );
  await client.quit();
} else if (which === "node-pop3") {
  const { default: Pop3Command } = await import("node-pop3");
  const pop3 = new Pop3Command({ user, password, host, port: Number(port) });
  result = await measure(
    async () => {
      await pop3.STAT(); // connects and logs in
    },
    async () => {
      const text = await pop3.RETR(1); // node-pop3 buffers the whole message into one string
      return [Buffer.byteLength(text), text];
    },
  );
  await pop3.QUIT();
} else {
  throw new Error(`unknown client ${which}`);
}
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
