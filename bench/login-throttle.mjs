// Password guessing against pop3-server with the user file (real scrypt) and the Maildir store:
//   node bench/login-throttle.mjs
// Prints, per scenario: checked guesses per second against one user (answers -ERR [AUTH]),
// refusals (-ERR [SYS/TEMP], answered without hashing), the real user's login times during the
// attack, and the longest RETR of a logged-in session during a hash flood. Needs 127.0.0.2-40 on
// loopback (Linux has the whole 127/8). Not part of `pnpm bench`: it measures limits, not speed.
import { fork } from "node:child_process";
import { connect } from "node:net";

const SECONDS = Number(process.env.SECONDS ?? 30);
const USERS = { victim: "correct horse", carol: "carol's own", reader: "reads a lot" };

function startServer(limits) {
  const child = fork(new URL("./login-throttle-server.mjs", import.meta.url), [
    JSON.stringify({ users: USERS, limits }),
  ]);
  return new Promise((resolve) =>
    child.once("message", ({ port }) =>
      resolve({
        port,
        stop: () =>
          new Promise((done) => {
            child.once("exit", done);
            child.send("stop");
          }),
      }),
    ),
  );
}

/** A line-at-a-time POP3 connection; good enough for single-line answers and RETR. */
async function open(port, localAddress) {
  const socket = connect({ port, host: "127.0.0.1", localAddress });
  socket.setNoDelay(true);
  let buffer = "";
  let closed = false;
  const waiters = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  socket.on("data", (chunk) => {
    buffer += chunk.toString("latin1");
    wake();
  });
  socket.on("close", () => {
    closed = true;
    wake();
  });
  socket.on("error", () => {});
  const line = async () => {
    for (;;) {
      const end = buffer.indexOf("\r\n");
      if (end >= 0) {
        const text = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        return text;
      }
      if (closed) return undefined;
      await new Promise((r) => waiters.push(r));
    }
  };
  const untilTerminator = async () => {
    for (;;) {
      const end = buffer.indexOf("\r\n.\r\n");
      if (end >= 0) {
        buffer = buffer.slice(end + 5);
        return;
      }
      if (closed) throw new Error("closed inside RETR");
      await new Promise((r) => waiters.push(r));
    }
  };
  const command = (text) => {
    socket.write(`${text}\r\n`);
    return line();
  };
  await line();
  return {
    line,
    command,
    untilTerminator,
    close: () => socket.destroy(),
    get closed() {
      return closed;
    },
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `connections` guessers spread over `addresses`, guessing `user()` until `until`. */
async function guess(port, { addresses, connections, user, until }) {
  const counts = { checked: 0, refused: 0, other: 0 };
  const one = async (address) => {
    while (Date.now() < until) {
      let c;
      try {
        c = await open(port, address);
      } catch {
        await sleep(50);
        continue;
      }
      while (!c.closed && Date.now() < until) {
        const name = user();
        if (!(await c.command(`USER ${name}`))?.startsWith("+OK")) break;
        const reply = await c.command(`PASS guess-${Math.random()}`);
        if (reply === undefined) break;
        if (reply.startsWith("-ERR [AUTH]")) counts.checked += 1;
        else if (reply.startsWith("-ERR [SYS/TEMP]")) {
          counts.refused += 1;
          await sleep(50);
        } else counts.other += 1;
      }
      c.close();
    }
  };
  const started = Date.now();
  await Promise.all(
    Array.from({ length: connections }, (_, i) => one(addresses[i % addresses.length])),
  );
  return { ...counts, seconds: (Date.now() - started) / 1000 };
}

/** The real user logging in every `everyMs` from a clean address; login times in ms. */
async function realLogins(port, { user, address, until, everyMs = 1000 }) {
  const times = [];
  while (Date.now() < until) {
    const c = await open(port, address);
    await c.command(`USER ${user}`);
    const started = performance.now();
    const reply = await c.command(`PASS ${USERS[user]}`);
    const ms = Math.round(performance.now() - started);
    times.push(reply?.startsWith("+OK") ? ms : `${ms} (${reply})`);
    await c.command("QUIT");
    c.close();
    await sleep(everyMs);
  }
  return times;
}

async function reader(port) {
  const c = await open(port, "127.0.0.30");
  await c.command("USER reader");
  const ok = await c.command(`PASS ${USERS.reader}`);
  if (!ok?.startsWith("+OK")) throw new Error(`reader login: ${ok}`);
  return c;
}

/** RETRs in a loop on a logged-in session until `until`; the longest and the median, in ms. */
async function retrLoop(c, until) {
  const times = [];
  for (let n = 1; Date.now() < until; n = (n % 200) + 1) {
    const started = performance.now();
    await c.command(`RETR ${n}`);
    await c.untilTerminator();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return {
    retrs: times.length,
    medianMs: +(times[times.length >> 1] ?? 0).toFixed(1),
    maxMs: +(times.at(-1) ?? 0).toFixed(1),
  };
}

const tenAddresses = Array.from({ length: 10 }, (_, i) => `127.0.0.${i + 2}`);
const report = {};

async function attack(name, addresses) {
  const server = await startServer({});
  const until = Date.now() + SECONDS * 1000;
  const [guesses, victim, carol] = await Promise.all([
    guess(server.port, { addresses, connections: 50, user: () => "victim", until }),
    realLogins(server.port, { user: "victim", address: "127.0.0.20", until }),
    realLogins(server.port, { user: "carol", address: "127.0.0.21", until }),
  ]);
  await server.stop();
  report[name] = {
    guessesPerSecond: +(guesses.checked / guesses.seconds).toFixed(2),
    ...guesses,
    victimLoginMs: victim,
    carolLoginMs: carol,
  };
  console.log(name, JSON.stringify(report[name]));
}

async function flood(name, limits) {
  const server = await startServer(limits);
  const c = await reader(server.port);
  const quiet = await retrLoop(c, Date.now() + 5000);
  const until = Date.now() + 10_000;
  const [retr, guesses] = await Promise.all([
    retrLoop(c, until),
    guess(server.port, {
      addresses: tenAddresses,
      connections: 50,
      user: () => `nobody${Math.floor(Math.random() * 1e6)}`,
      until,
    }),
  ]);
  c.close();
  await server.stop();
  report[name] = {
    quietRetr: quiet,
    floodRetr: retr,
    hashes: guesses.checked,
    refused: guesses.refused,
  };
  console.log(name, JSON.stringify(report[name]));
}

const only = process.argv[2];
if (!only || only === "one") await attack("one address, default limits", ["127.0.0.1"]);
if (!only || only === "ten") await attack("ten addresses, default limits", tenAddresses);
if (!only || only === "flood") {
  await flood("hash flood, default limits", {});
  // No delay and no cap: as many hashes as the server will run, to see whether they stall file I/O.
  await flood("hash flood, no delay or cap", {
    failedLoginDelayMs: 0,
    maxFailedLoginsPerAddress: 1_000_000,
    maxFailedLoginsPerUser: 1_000_000,
  });
}
