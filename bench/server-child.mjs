// The server side of the client benchmarks, in its own process so that it does not share an event
// loop (or a CPU) with the client being measured. Started by client.bench.mjs with the layout as
// JSON in argv[2]; prints one JSON line `{ "port", "users", "mailbox", "generated" }` on stdout
// when it listens, and exits when its stdin closes (the parent died) or on SIGTERM.
//
// Every user in `users` gets the same mailbox (a MemoryStore seeded with the same bytes), so no
// client ever waits for another's maildrop lock. The `generated` users have one message that is
// produced on the fly, 64 KiB at a time, and never stored (for the 1 GiB memory measurement).
import { createServer, MemoryStore, staticUsers } from "pop3-server";
import { generatedHeader, makeBlock, makeMessage } from "./mail.mjs";

const layout = JSON.parse(process.argv[2] ?? "{}");
const {
  users = ["bench"],
  password = "bench-password",
  small = { count: 20, size: 1_000_000 },
  large = { count: 1, size: 50_000_000 },
  generated = {},
} = layout;

const memory = new MemoryStore();
const sizes = [];
for (let i = 0; i < small.count; i++) sizes.push(small.size);
for (let i = 0; i < large.count; i++) sizes.push(large.size);
const mailbox = [];
for (const [index, size] of sizes.entries()) {
  const bytes = makeMessage(size, index + 1);
  for (const user of users) mailbox[index] = memory.addMessage(user, bytes).size;
}

/** A message of about `target` octets: a header, then a 64 KiB block of lines repeated. */
function generatedMessage(target, seed) {
  const head = generatedHeader(`generated ${seed}`);
  const block = makeBlock(seed);
  const blocks = Math.max(1, Math.round((target - head.length) / block.length));
  return { head, block, blocks, size: head.length + blocks * block.length };
}

const generatedMessages = new Map(
  Object.entries(generated).map(([user, target], i) => [user, generatedMessage(target, 1000 + i)]),
);

const store = {
  async openMaildrop(user, signal) {
    const message = generatedMessages.get(user);
    if (message === undefined) return memory.openMaildrop(user, signal);
    return {
      messages: [{ uid: `generated-${user}`, size: message.size }],
      async *read() {
        yield Buffer.from(message.head);
        // A fresh buffer per chunk, as a file read would give: nothing is kept.
        for (let i = 0; i < message.blocks; i++) yield Buffer.from(message.block);
      },
      commit: async () => {},
      release: async () => {},
    };
  },
};

const auth = staticUsers(
  Object.fromEntries([...users, ...generatedMessages.keys()].map((user) => [user, password])),
);
const server = createServer({
  store,
  auth,
  plain: { host: "127.0.0.1", port: 0 },
  allowCleartextAuth: true,
  // A slow peer (node-pop3 on a big message) must not be dropped for leaving output unread.
  limits: { writeTimeoutMs: 600_000, failedLoginDelayMs: 0 },
});
const { plain } = await server.listen();

let closing = false;
async function shutdown() {
  if (closing) return;
  closing = true;
  const timer = setTimeout(() => process.exit(0), 2000);
  timer.unref();
  try {
    await server.close();
  } finally {
    process.exit(0);
  }
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
process.stdin.on("end", shutdown);
process.stdin.on("close", shutdown);
process.stdin.on("error", shutdown);
process.stdin.resume();

process.stdout.write(
  `${JSON.stringify({
    port: plain.port,
    password,
    users,
    mailbox: { sizes: mailbox, total: mailbox.reduce((a, b) => a + b, 0) },
    generated: Object.fromEntries([...generatedMessages].map(([user, m]) => [user, m.size])),
  })}\n`,
);
