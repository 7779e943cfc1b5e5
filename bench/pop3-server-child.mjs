// Our server for the server benchmarks, alone in its own Node process(es), forked by
// server.bench.mjs with --expose-gc and the layout as JSON in argv[2]:
//
//   { store: "memory" | "maildir", root?, users: [{ names: [...], password, mail: [{ count, size, seed }] }],
//     workers?: number, tls?: { cert, key } }
//
// "memory": a MemoryStore seeded with mail.mjs's messages (the same bytes server.bench.mjs
// writes into the Maildirs and delivers to Dovecot); "maildir": a MaildirStore on `root`, already
// seeded by the parent (default options). Users come from `staticUsers`. `workers` > 1 runs the
// server in that many processes with pop3-server's `serveInWorkers` (node:cluster, shared
// listeners, a MaildirStore each); this process is then the primary. `tls` (PEM file paths) adds
// an implicit-TLS listener.
//
// Limits: every connection limit is raised, `maxConnectionsPerAddress` and
// `maxPreLoginConnectionsPerAddress` included, because the load generator opens every session
// from 127.0.0.1 (at c=64, and for the 10,000 idle sessions); failed-login delays are off.
//
// IPC: it sends { port, tlsPort } once listening; { type: "memory" } is answered with
// process.memoryUsage() after a full gc(), the PSS and RSS from /proc/self/smaps_rollup and the
// server's stats (one process only); { type: "cpu" } with the CPU time so far of this process
// and its workers ({ seconds }). It exits when the parent disconnects (or on SIGTERM).
import cluster from "node:cluster";
import { readFileSync } from "node:fs";
import { createServer, MaildirStore, MemoryStore, serveInWorkers, staticUsers } from "pop3-server";
import { processTreeCpu } from "./dovecot.mjs";
import { mailSet } from "./mailboxes.mjs";

const layout = JSON.parse(process.argv[2] ?? "{}");
const workers = layout.workers ?? 1;
const gc = globalThis.gc ?? (() => {});

const passwords = {};
for (const group of layout.users) for (const name of group.names) passwords[name] = group.password;

const tls =
  layout.tls === undefined
    ? undefined
    : { cert: readFileSync(layout.tls.cert, "utf8"), key: readFileSync(layout.tls.key, "utf8") };

function makeStore() {
  if (layout.store === "maildir")
    return new MaildirStore({ root: layout.root, createMissing: false });
  const store = new MemoryStore();
  for (const group of layout.users) {
    const messages = group.mail.flatMap((spec) => mailSet(spec));
    // Every user has a maildrop of their own, with the same bytes (MemoryStore keeps a view of a
    // Buffer rather than a copy, so the users share the memory, as files share a page cache).
    for (const name of group.names) for (const bytes of messages) store.addMessage(name, bytes);
  }
  return store;
}

function makeServer() {
  return createServer({
    store: makeStore(),
    auth: staticUsers(passwords),
    plain: { host: "127.0.0.1", port: 0 },
    ...(tls === undefined ? {} : { implicitTls: { host: "127.0.0.1", port: 0 }, tls }),
    allowCleartextAuth: true,
    limits: {
      maxConnections: 100_000,
      maxConnectionsPerAddress: 100_000,
      maxPreLoginConnectionsPerAddress: 100_000,
      failedLoginDelayMs: 0,
      shutdownGraceMs: 500,
    },
  });
}

/** PSS and RSS of this process in bytes, from the kernel's own accounting. */
function smapsRollup() {
  try {
    const text = readFileSync("/proc/self/smaps_rollup", "utf8");
    const field = (name) =>
      Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1]) * 1024;
    return { pss: field("Pss"), rollupRss: field("Rss") };
  } catch {
    return { pss: Number.NaN, rollupRss: Number.NaN };
  }
}

if (workers > 1) {
  // The same script runs in every worker: there serveInWorkers only calls setup() and serves.
  const served = await serveInWorkers({ workers, setup: makeServer, handleSignals: false });
  if (cluster.isPrimary) {
    const { plain, implicitTls } = served.addresses;
    let closing = false;
    const shutdown = async () => {
      if (closing) return;
      closing = true;
      setTimeout(() => process.exit(0), 5000).unref();
      await served.close().catch(() => {});
      process.exit(0);
    };
    process.on("SIGTERM", shutdown);
    process.on("disconnect", shutdown);
    process.on("message", (message) => {
      if (message.type === "cpu") process.send({ seconds: processTreeCpu(process.pid) });
      if (message.type === "memory") process.send({ error: "memory: one process only" });
    });
    process.send({ port: plain?.port, tlsPort: implicitTls?.port, workers });
  }
} else {
  const server = makeServer();
  const { plain, implicitTls } = await server.listen();
  let closing = false;
  const shutdown = async () => {
    if (closing) return;
    closing = true;
    setTimeout(() => process.exit(0), 3000).unref();
    try {
      await server.close();
    } finally {
      process.exit(0);
    }
  };
  process.on("SIGTERM", shutdown);
  process.on("disconnect", shutdown);
  process.on("message", (message) => {
    if (message.type === "cpu") {
      const { user, system } = process.cpuUsage();
      process.send({ seconds: (user + system) / 1e6 });
    }
    if (message.type === "memory") {
      gc();
      gc();
      process.send({ ...process.memoryUsage(), ...smapsRollup(), stats: server.stats() });
    }
  });
  process.send({ port: plain?.port, tlsPort: implicitTls?.port, workers: 1 });
}
