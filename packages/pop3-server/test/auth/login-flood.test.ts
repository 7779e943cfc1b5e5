/**
 * Password guessing against the real server over real sockets: the caps hold under parallel
 * connections, a capped guess costs no check, the real user from a clean address is let in at
 * once, and a full password-hash queue answers [SYS/TEMP] instead of queueing. Figures (guesses
 * per second, login times, RETR stalls) are measured by bench/login-throttle.mjs, not here.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type Authenticator, hashPassword, staticUsers, userFile } from "../../src/index";
import { RawClient, startServer, type TestServer, USERS } from "../support";

let t: TestServer | undefined;
let dir: string | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

/** staticUsers that counts its password checks. */
function counting(): { auth: Authenticator; checks: () => number } {
  const inner = staticUsers(USERS);
  let checks = 0;
  return {
    checks: () => checks,
    auth: {
      verifyPassword(user, password, context) {
        checks += 1;
        return inner.verifyPassword(user, password, context);
      },
    },
  };
}

async function connectFrom(port: number, localAddress: string): Promise<RawClient> {
  const client = await RawClient.connect(port, { localAddress });
  expect(await client.line()).toMatch(/^\+OK/);
  return client;
}

/** USER + PASS on an open connection; the PASS answer and how long it took. */
async function attempt(client: RawClient, user: string, password: string) {
  await client.command(`USER ${user}`);
  const started = performance.now();
  const reply = await client.command(`PASS ${password}`);
  return { reply, ms: performance.now() - started };
}

const CAPPED = "-ERR [SYS/TEMP] too many failed logins, try later";

describe("login throttling over real sockets", () => {
  it("caps the guessing address and user without checking, and lets the real user straight in", async () => {
    const { auth, checks } = counting();
    t = await startServer({
      auth,
      limits: {
        failedLoginDelayMs: 100,
        maxFailedLoginDelayMs: 3000,
        maxFailedLoginsPerAddress: 3,
        maxFailedLoginsPerUser: 6,
        maxAuthFailures: 10,
      },
    });
    const port = t.port;

    // One address guesses until refused: exactly 3 checked guesses, then a refusal and hang-up.
    const attacker = await connectFrom(port, "127.0.0.2");
    const replies: (string | undefined)[] = [];
    for (let i = 0; i < 5 && replies.at(-1) !== CAPPED; i++) {
      replies.push((await attempt(attacker, "alice", `guess${i}`)).reply);
    }
    expect(replies).toEqual([
      "-ERR [AUTH] authentication failed",
      "-ERR [AUTH] authentication failed",
      "-ERR [AUTH] authentication failed",
      CAPPED,
    ]);
    await attacker.closed();
    expect(checks()).toBe(3);
    // The right password from the capped address is refused too, unchecked.
    const same = await connectFrom(port, "127.0.0.2");
    expect((await attempt(same, "alice", USERS.alice)).reply).toBe(CAPPED);
    expect(checks()).toBe(3);

    // Three more addresses, one guess each (clean, so checked): alice now has 6 failures.
    for (const address of ["127.0.0.4", "127.0.0.5", "127.0.0.6"]) {
      const bot = await connectFrom(port, address);
      expect((await attempt(bot, "alice", "guess")).reply).toMatch(/^-ERR \[AUTH\]/);
      bot.close();
    }
    expect(checks()).toBe(6);
    // From an address that already failed, alice is capped; bob is not.
    const bot = await connectFrom(port, "127.0.0.4");
    expect((await attempt(bot, "bob", "guess")).reply).toMatch(/^-ERR \[AUTH\]/);
    expect((await attempt(bot, "alice", "guess")).reply).toBe(CAPPED);
    expect(checks()).toBe(7);

    // The real alice from a clean address: checked at once, no delay. Under the old per-user
    // delay she would have waited maxFailedLoginDelayMs (3 s) here.
    const real = await connectFrom(port, "127.0.0.3");
    const login = await attempt(real, "alice", USERS.alice);
    expect(login.reply).toMatch(/^\+OK/);
    expect(login.ms).toBeLessThan(2500);
    expect(checks()).toBe(8);
    expect(await real.command("QUIT")).toMatch(/^\+OK/);

    // Her success does not wipe the guessers' record.
    const again = await connectFrom(port, "127.0.0.5");
    expect((await attempt(again, "alice", "guess")).reply).toBe(CAPPED);
    expect(checks()).toBe(8);
    for (const client of [same, bot, again]) client.close();
  });

  it("holds parallel connections from one address to the cap", async () => {
    const { auth, checks } = counting();
    t = await startServer({ auth, limits: { maxFailedLoginsPerAddress: 10 } });
    const port = t.port;
    const counts = { checked: 0, refused: 0 };
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        const client = await connectFrom(port, "127.0.0.2");
        // maxAuthFailures (3) ends each connection after its third failure.
        for (let i = 0; i < 3 && !client.ended; i++) {
          const { reply } = await attempt(client, "alice", `guess${i}`);
          if (reply?.startsWith("-ERR [AUTH]")) counts.checked += 1;
          else if (reply === CAPPED) counts.refused += 1;
        }
        client.close();
      }),
    );
    expect(counts.checked).toBe(10);
    expect(checks()).toBe(10);
    expect(counts.refused).toBeGreaterThanOrEqual(1);
  });

  it("answers [SYS/TEMP] at once when the password-hash queue is full, and hashes nothing for it", async () => {
    dir = await mkdtemp(join(tmpdir(), "pop3-hash-queue-"));
    const path = join(dir, "users");
    // A deliberately slow hash (64 MiB, a few hundred ms) so that the logins overlap.
    await writeFile(path, `alice:${await hashPassword(USERS.alice, { N: 2 ** 16, r: 8 })}\n`);
    t = await startServer({
      auth: userFile(path),
      limits: { passwordHashConcurrency: 1, passwordHashQueueLength: 1 },
    });
    const port = t.port;
    const clients = await Promise.all(
      [2, 3, 4, 5, 6, 7].map((n) => connectFrom(port, `127.0.0.${n}`)),
    );
    for (const client of clients) expect(await client.command("USER alice")).toMatch(/^\+OK/);
    const started = performance.now();
    const answers = await Promise.all(
      clients.map(async (client) => {
        const reply = await client.command("PASS wrong");
        return { reply, ms: performance.now() - started };
      }),
    );
    const busy = answers.filter((a) => a.reply === "-ERR [SYS/TEMP] server busy, try later");
    const checked = answers.filter((a) => a.reply === "-ERR [AUTH] authentication failed");
    // One hashing, one waiting; the other four refused without waiting for either.
    expect(checked).toHaveLength(2);
    expect(busy).toHaveLength(4);
    expect(Math.max(...busy.map((a) => a.ms))).toBeLessThan(Math.min(...checked.map((a) => a.ms)));
    // A refusal is no failure: the connection stays, and a retry is checked (and succeeds).
    const retry =
      busy.length > 0 ? clients[answers.indexOf(busy[0] as (typeof answers)[0])] : undefined;
    expect(retry?.ended).toBe(false);
    expect((await attempt(retry as RawClient, "alice", USERS.alice)).reply).toMatch(/^\+OK/);
    for (const client of clients) client.close();
  });
});
