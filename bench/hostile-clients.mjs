// Measures what misbehaving clients cost the server (the figures in pop3-server's README,
// "What a hostile client gets"): the server runs in a child process (hostile-server-child.mjs)
// whose RSS is read from /proc, so this process's own sockets and buffers do not count.
//
//   node bench/hostile-clients.mjs        (needs `pnpm build` first: it imports dist/)
//
// Every scenario talks only to 127.0.0.x and stops by itself.
import { fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect } from "node:net";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function rssMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function startServer(limits = {}) {
  const child = fork(
    new URL("./hostile-server-child.mjs", import.meta.url),
    [JSON.stringify({ limits })],
    { execArgv: ["--expose-gc"] },
  );
  const info = await new Promise((resolve) => child.once("message", resolve));
  return {
    ...info,
    pid: child.pid,
    stats: () =>
      new Promise((resolve) => {
        child.once("message", resolve);
        child.send("stats");
      }),
    stop: () =>
      new Promise((resolve) => {
        child.once("exit", resolve);
        child.send("stop");
      }),
  };
}

function open(port, localAddress) {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1", localAddress });
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

/** A logged-in client that pipelines `count` copies of `command` and never reads. */
async function neverReads(command, count) {
  const server = await startServer();
  const before = rssMb(server.pid);
  const heapBefore = await server.stats();
  const socket = await open(server.port);
  socket.pause();
  socket.write("USER alice\r\nPASS wonderland\r\n");
  await sleep(300);
  socket.write(`${command}\r\n`.repeat(count));
  let peak = before;
  for (let i = 0; i < 30; i++) {
    await sleep(100);
    peak = Math.max(peak, rssMb(server.pid));
  }
  const after = await server.stats();
  socket.destroy();
  await server.stop();
  const kept =
    (after.heapUsed + after.arrayBuffers - heapBefore.heapUsed - heapBefore.arrayBuffers) / 2 ** 20;
  return { before, peak, growth: peak - before, handled: after.commands, kept };
}

/** `count` clients from 10 addresses that trickle a byte every second and never log in. */
async function tricklers(count) {
  const server = await startServer({ loginTimeoutMs: 5000, maxConnections: 200 });
  const sockets = [];
  for (let i = 0; i < count; i++) {
    const socket = await open(server.port, `127.0.0.${2 + (i % 10)}`).catch(() => undefined);
    if (socket === undefined) continue;
    socket.on("error", () => {});
    socket.resume();
    sockets.push(socket);
  }
  const trickle = setInterval(() => {
    for (const s of sockets) if (!s.destroyed) s.write("U");
  }, 1000);
  await sleep(1000);
  const held = (await server.stats()).activeConnections;
  // A real client still gets in while they trickle.
  const started = Date.now();
  const client = await open(server.port, "127.0.0.200");
  const greeting = await new Promise((resolve) => client.once("data", (d) => resolve(String(d))));
  const greetedMs = Date.now() - started;
  client.destroy();
  await sleep(6000);
  const after = (await server.stats()).activeConnections;
  clearInterval(trickle);
  for (const s of sockets) s.destroy();
  await server.stop();
  return { held, greeting: greeting.slice(0, 3), greetedMs, afterDeadline: after };
}

/** `count` TCP connections to the implicit-TLS port that never send a byte. */
async function silentTls(count) {
  const server = await startServer({ tlsHandshakeTimeoutMs: 3000 });
  const sockets = [];
  let refused = 0;
  for (let i = 0; i < count; i++) {
    const socket = await open(server.tlsPort, `127.0.1.${1 + (i % 200)}`).catch(() => undefined);
    if (socket === undefined) {
      refused += 1;
      continue;
    }
    socket.on("error", () => {});
    socket.resume();
    sockets.push(socket);
  }
  await sleep(200);
  const held = (await server.stats()).activeConnections;
  await sleep(3500);
  const afterTimeout = (await server.stats()).activeConnections;
  for (const s of sockets) s.destroy();
  await server.stop();
  return { held, afterTimeout, refused };
}

const results = {
  uidl100k: await neverReads("UIDL", 100_000),
  noop1m: await neverReads("NOOP", 1_000_000),
  tricklers1000: await tricklers(1000),
  silentTls1100: await silentTls(1100),
};
const mb = (n) => `${n.toFixed(1)} MB`;
console.log("scenario                               peak RSS growth   kept after GC   answered");
for (const [name, r] of [
  ["100,000 pipelined UIDL, never read", results.uidl100k],
  ["1,000,000 pipelined NOOP, never read", results.noop1m],
]) {
  console.log(
    `${name.padEnd(38)} ${mb(r.growth).padStart(15)}   ${mb(r.kept).padStart(13)}   ${r.handled} commands (RSS ${mb(r.before)} → peak ${mb(r.peak)})`,
  );
}
const t = results.tricklers1000;
console.log(
  `1,000 trickling pre-login clients: ${t.held} held (maxConnections 200), a new client greeted "${t.greeting}" in ${t.greetedMs} ms, ${t.afterDeadline} left after the 5 s login deadline`,
);
const s = results.silentTls1100;
console.log(
  `1,100 silent TLS connections: ${s.held} held (maxConnections 1000), ${s.afterTimeout} after the 3 s handshake timeout, ${s.refused} failed to connect`,
);
