// Our server for the server benchmarks, alone in its own Node process (one process, one thread),
// forked by server.bench.mjs with --expose-gc and the layout as JSON in argv[2]:
//
//   { store: "memory" | "maildir", root?, users: [{ names: [...], password, mail: [{ count, size, seed }] }] }
//
// "memory": a MemoryStore seeded with mail.mjs's messages (the same bytes server.bench.mjs
// writes into the Maildirs and delivers to Dovecot); "maildir": a MaildirStore on `root`, already
// seeded by the parent. Users come from `staticUsers`. Every connection limit is raised so that
// the 10,000 idle sessions of the memory run fit.
//
// IPC: it sends { port } once listening; { type: "memory" } is answered with
// process.memoryUsage() after a full gc(), the PSS and RSS from /proc/self/smaps_rollup and the
// server's stats; { type: "cpu" } with this process's CPU time so far ({ seconds }). It exits when the parent disconnects (or on SIGTERM).
import { readFileSync } from "node:fs";
import { createServer, MaildirStore, MemoryStore, staticUsers } from "pop3-server";
import { mailSet } from "./mailboxes.mjs";

const layout = JSON.parse(process.argv[2] ?? "{}");
const gc = globalThis.gc ?? (() => {});

const passwords = {};
for (const group of layout.users) for (const name of group.names) passwords[name] = group.password;

let store;
if (layout.store === "maildir") {
  store = new MaildirStore({ root: layout.root, createMissing: false });
} else {
  store = new MemoryStore();
  for (const group of layout.users) {
    const messages = group.mail.flatMap((spec) => mailSet(spec));
    // Every user has a maildrop of their own, with the same bytes (MemoryStore keeps a view of a
    // Buffer rather than a copy, so the users share the memory, as files share a page cache).
    for (const name of group.names) for (const bytes of messages) store.addMessage(name, bytes);
  }
}

const server = createServer({
  store,
  auth: staticUsers(passwords),
  plain: { host: "127.0.0.1", port: 0 },
  allowCleartextAuth: true,
  limits: {
    maxConnections: 100_000,
    maxConnectionsPerAddress: 100_000,
    // The load generator logs in from one address, many sessions at once.
    maxPreLoginConnectionsPerAddress: 100_000,
    failedLoginDelayMs: 0,
    shutdownGraceMs: 500,
  },
});
const { plain } = await server.listen();

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

let closing = false;
async function shutdown() {
  if (closing) return;
  closing = true;
  setTimeout(() => process.exit(0), 3000).unref();
  try {
    await server.close();
  } finally {
    process.exit(0);
  }
}
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
process.send({ port: plain.port });
