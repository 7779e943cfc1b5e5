// One Node client of the throughput bench, in its own process (started by client.bench.mjs with
// fork and --expose-gc), so that no client pays for another's heap, garbage or JIT state, and none
// shares an event loop with the server.
//
//   node --expose-gc client-child.mjs <ours|ours-pipelined|node-pop3|node-pop3-stream>
//
// For each IPC message `{ port, user, password, count, smallCount }` it collects garbage, fetches
// messages 1..count in one session and answers `{ seconds, smallSeconds, bytes }` (only RETR is
// timed: login and STAT are not; `smallSeconds` is the time to the end of message `smallCount`)
// or `{ error }`. It exits when the parent disconnects.
import { performance } from "node:perf_hooks";
import Pop3Command from "node-pop3";
import { connect } from "pop3-client";

const HOST = "127.0.0.1";
const which = process.argv[2];
const gc = globalThis.gc ?? (() => {});

/** Times messages 1..count; `fetch(msg)` consumes message `msg` and returns its octets. */
async function timed(count, smallCount, fetch) {
  let bytes = 0;
  let smallSeconds = 0;
  const start = performance.now();
  for (let msg = 1; msg <= count; msg++) {
    bytes += await fetch(msg);
    if (msg === smallCount) smallSeconds = (performance.now() - start) / 1000;
  }
  return { seconds: (performance.now() - start) / 1000, smallSeconds, bytes };
}

async function drain(stream) {
  let bytes = 0;
  for await (const chunk of stream) bytes += chunk.length;
  return bytes;
}

/** pop3-client: retrieve(n), the stream consumed to the end; `pipelined` sends RETR n+1 early. */
async function ours({ port, user, password, count, smallCount }, pipelined) {
  const client = await connect({ host: HOST, port, tls: "none" });
  try {
    await client.login({ user, password });
    await client.stat();
    let next;
    const result = await timed(count, smallCount, async (msg) => {
      const stream = await (next ?? client.retrieve(msg));
      next = undefined;
      if (pipelined && msg < count) {
        next = client.retrieve(msg + 1);
        next.catch(() => {}); // reported when awaited
      }
      return drain(stream);
    });
    await client.quit();
    return result;
  } finally {
    client.close();
  }
}

/** node-pop3: RETR(n) resolves with the message as a string (its message API). */
async function nodePop3({ port, user, password, count, smallCount }, raw) {
  const pop3 = new Pop3Command({ user, password, host: HOST, port });
  pop3.on("error", () => {}); // an error outside a command would otherwise end the process
  try {
    await pop3.STAT(); // connects and logs in
    const result = await timed(count, smallCount, async (msg) => {
      if (!raw) return (await pop3.RETR(msg)).length;
      // command("RETR", n): the raw socket stream, still dot-stuffed, consumed to the end.
      const [, stream] = await pop3.command("RETR", msg);
      return drain(stream);
    });
    await pop3.QUIT();
    return result;
  } finally {
    pop3._socket?.destroy();
  }
}

const clients = {
  ours: (job) => ours(job, false),
  "ours-pipelined": (job) => ours(job, true),
  "node-pop3": (job) => nodePop3(job, false),
  "node-pop3-stream": (job) => nodePop3(job, true),
};
const run = clients[which];
if (run === undefined) throw new Error(`unknown client ${which}`);

process.on("disconnect", () => process.exit(0));
process.on("message", async (job) => {
  gc(); // the previous run's garbage is not this run's cost
  try {
    process.send(await run(job));
  } catch (error) {
    process.send({ error: error instanceof Error ? error.message : String(error) });
  }
});
process.send({ ready: true });
