// The server side of login-throttle.mjs, in its own process so that the load generator's CPU use
// does not show up as server stalls. Reads a JSON config from argv[2], prints {port} on IPC.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addUserToFile, createServer, MaildirStore, userFile } from "pop3-server";
import { makeMessage } from "./mail.mjs";
import { writeMaildir } from "./mailboxes.mjs";

const config = JSON.parse(process.argv[2] ?? "{}");
const root = mkdtempSync(join(tmpdir(), "pop3-login-bench-"));
const usersPath = join(root, "users");
for (const [user, password] of Object.entries(config.users)) {
  await addUserToFile(usersPath, user, password);
  const count = user === "reader" ? 200 : 1;
  writeMaildir(
    join(root, "mail"),
    user,
    Array.from({ length: count }, (_, i) => makeMessage(100 * 1024, i + 1)),
  );
}
const server = createServer({
  store: new MaildirStore({ root: join(root, "mail") }),
  auth: userFile(usersPath),
  plain: { host: "0.0.0.0", port: 0 },
  allowCleartextAuth: true,
  hostname: "bench.local",
  limits: config.limits ?? {},
});
const { plain } = await server.listen();
process.send?.({ port: plain.port });
process.on("message", async (message) => {
  if (message === "stop") {
    await server.close();
    rmSync(root, { recursive: true, force: true });
    process.exit(0);
  }
});
