// The server side of hostile-clients.mjs: a MemoryStore server with alice's 100 messages, in a
// process of its own so its RSS is its own. Config (JSON) in argv[2]; answers "stats" on IPC.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, MemoryStore, staticUsers } from "pop3-server";

const config = JSON.parse(process.argv[2] ?? "{}");
const dir = mkdtempSync(join(tmpdir(), "pop3-hostile-"));
execFileSync(
  "openssl",
  [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    join(dir, "key.pem"),
    "-out",
    join(dir, "cert.pem"),
    "-days",
    "1",
    "-subj",
    "/CN=localhost",
  ],
  { stdio: "ignore" },
);
const tls = {
  key: readFileSync(join(dir, "key.pem"), "utf8"),
  cert: readFileSync(join(dir, "cert.pem"), "utf8"),
};
rmSync(dir, { recursive: true, force: true });

const store = new MemoryStore();
for (let i = 0; i < 100; i++) store.addMessage("alice", `Subject: ${i}\r\n\r\nbody ${i}\r\n`);
const server = createServer({
  store,
  auth: staticUsers({ alice: "wonderland" }),
  plain: { host: "127.0.0.1", port: 0 },
  implicitTls: { host: "127.0.0.1", port: 0 },
  tls,
  allowCleartextAuth: true,
  hostname: "bench.local",
  limits: config.limits ?? {},
});
const { plain, implicitTls } = await server.listen();
process.send?.({ port: plain?.port, tlsPort: implicitTls?.port });
process.on("message", async (message) => {
  if (message === "stats") {
    // After a full collection: what the server keeps, not garbage it has yet to collect.
    globalThis.gc?.();
    const { heapUsed, arrayBuffers } = process.memoryUsage();
    process.send?.({ ...server.stats(), heapUsed, arrayBuffers });
  }
  if (message === "stop") {
    await server.close();
    process.exit(0);
  }
});
