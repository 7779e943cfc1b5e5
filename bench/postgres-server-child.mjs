// A pop3-server for postgres.bench.mjs, alone in its own Node process: the PostgreSQL store or,
// for the comparison, the Maildir store, with the same server settings. Layout as JSON in argv[2]:
//
//   { store: "postgres", url, schema, poolSize?, users: [...], password }
//   { store: "maildir", root, users: [...], password }
//
// The mail is already there (the parent delivered it to PostgreSQL or wrote the Maildirs). Sends
// { port } over IPC once listening, answers { type: "cpu" } with { seconds }, and exits when the
// parent disconnects (or on SIGTERM).
import { createServer, MaildirStore, staticUsers } from "pop3-server";
import { createPostgresStore } from "../packages/pop3-store-postgres/dist/index.js";

const layout = JSON.parse(process.argv[2] ?? "{}");

const store =
  layout.store === "postgres"
    ? await createPostgresStore({
        connectionString: layout.url,
        schema: layout.schema,
        poolSize: layout.poolSize ?? 10,
      })
    : new MaildirStore({ root: layout.root, createMissing: false });

const server = createServer({
  store,
  auth: staticUsers(Object.fromEntries(layout.users.map((user) => [user, layout.password]))),
  plain: { host: "127.0.0.1", port: 0 },
  allowCleartextAuth: true,
  limits: {
    maxConnections: 100_000,
    maxConnectionsPerAddress: 100_000,
    maxPreLoginConnectionsPerAddress: 100_000,
    failedLoginDelayMs: 0,
    shutdownGraceMs: 500,
  },
});
const { plain } = await server.listen();

let closing = false;
async function shutdown() {
  if (closing) return;
  closing = true;
  setTimeout(() => process.exit(0), 5000).unref();
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
});
process.send({ port: plain.port });
