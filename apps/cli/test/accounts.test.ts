import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveAccount } from "../src/accounts/account";
import { loadAccounts } from "../src/accounts/load";
import { runPasswordCommand } from "../src/accounts/password";
import { CliError } from "../src/errors";
import { Output } from "../src/output";
import {
  type Fixture,
  PASSWORD,
  readMaildir,
  removeDir,
  runCli,
  startFixture,
  tempDir,
  USER,
} from "./helpers";

/** Accounts files (TOML, JSON): validation, password sources, and `fetch --config` for real. */

function quietOutput(): { output: Output; stderr: () => string } {
  const err = new PassThrough();
  let text = "";
  err.on("data", (d: Buffer) => {
    text += d.toString();
  });
  const output = new Output({
    json: false,
    color: false,
    stdout: new PassThrough() as unknown as NodeJS.WriteStream,
    stderr: err as unknown as NodeJS.WriteStream,
  });
  return { output, stderr: () => text };
}

let dir: string;
beforeAll(async () => {
  dir = await tempDir("pop3-accounts-");
});
afterAll(async () => {
  await removeDir(dir);
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text, { mode: 0o600 });
  return path;
}

async function loadError(name: string, text: string): Promise<string> {
  const path = await file(name, text);
  try {
    await loadAccounts(path, { HOME: dir }, quietOutput().output);
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(1);
    return (error as Error).message;
  }
  throw new Error("loaded");
}

describe("loading an accounts file", () => {
  it("TOML and JSON give the same accounts; flag spellings and camelCase; defaults; paths", async () => {
    const toml = await file(
      "a.toml",
      `# two mailboxes
[defaults]
timeout = 20
max-size = "10M"
maildir = "~/Mail/all"

[accounts.work]
url = "pop3s://alice@mail.example.org"
password-command = "pass show work"
delete-after = 7

[accounts.home]
host = "pop.example.net"
port = 1110
tls = "starttls"
user = "bob"
passwordEnv = "HOME_PW"
mbox = "mail/home.mbox"
keep = true
pin-sha256 = ["${"A".repeat(43)}=", "${"B".repeat(43)}="]
mechanism = "cram-md5"
`,
    );
    const json = await file(
      "a.json",
      JSON.stringify({
        defaults: { timeout: 20, maxSize: "10M", maildir: "~/Mail/all" },
        accounts: {
          work: {
            url: "pop3s://alice@mail.example.org",
            passwordCommand: "pass show work",
            deleteAfter: 7,
          },
          home: {
            host: "pop.example.net",
            port: 1110,
            tls: "starttls",
            user: "bob",
            "password-env": "HOME_PW",
            mbox: "mail/home.mbox",
            keep: true,
            pinSha256: [`${"A".repeat(43)}=`, `${"B".repeat(43)}=`],
            mechanism: "cram-md5",
          },
        },
      }),
    );
    const strip = (a: Awaited<ReturnType<typeof loadAccounts>>) =>
      a.accounts.map(({ describe: _d, ...rest }) => rest);
    const fromToml = await loadAccounts(toml, { HOME: "/home/u" }, quietOutput().output);
    const fromJson = await loadAccounts(json, { HOME: "/home/u" }, quietOutput().output);
    expect(strip(fromToml)).toEqual(strip(fromJson));
    const [work, home] = strip(fromToml);
    expect(work).toEqual({
      name: "work",
      url: "pop3s://alice@mail.example.org",
      passwordCommand: "pass show work",
      deleteAfter: 7,
      timeout: 20,
      maxSize: 10 * 1024 * 1024,
      maildir: "/home/u/Mail/all",
    });
    // The account's mbox replaces the default maildir; its own password source, its keep.
    expect(home).toMatchObject({
      mbox: join(dir, "mail/home.mbox"),
      keep: true,
      mechanism: "CRAM-MD5",
    });
    expect(home).not.toHaveProperty("maildir");
    expect(fromToml.accounts[1]?.describe("port")).toBe(`accounts.home.port in ${toml}`);
    expect(fromToml.accounts[0]?.describe("max-size")).toBe(`defaults.max-size in ${toml}`);
  });

  it("errors name the file, the setting's path as written, and the value (never a password)", async () => {
    const message = await loadError(
      "bad.toml",
      `[accounts.work]
host = "h"
port = "110"
max-size = "lots"
maildir = "m"
mbox = "x"
colour = "red"
password = "hunter2"
passwordEnv = "PW"

[accounts."bad name"]
host = "h"
`,
    );
    expect(message).toContain(`invalid configuration in ${join(dir, "bad.toml")}:`);
    expect(message).toContain('accounts.work.port: must be a number from 1 to 65535, got "110"');
    expect(message).toContain(
      'accounts.work.max-size: must be a size like 5000000, 512k, 10M or 1G, got "lots"',
    );
    expect(message).toContain("accounts.work: unknown setting colour");
    expect(message).toContain("give one of maildir, mbox, mda, not maildir and mbox");
    expect(message).toContain(
      "give one of password, passwordEnv, passwordCommand, not password and passwordEnv",
    );
    expect(message).toMatch(/accounts\.bad name: an account name is letters/);
    expect(message).not.toContain("hunter2");
  });

  it("syntax errors say where; no accounts; one setting spelt twice; an unknown --account", async () => {
    expect(await loadError("syntax.toml", '[accounts.a]\nhost = "h\n')).toMatch(
      /syntax\.toml: not valid TOML: line 2, column \d+/,
    );
    expect(await loadError("syntax.json", '{"accounts": {')).toMatch(
      /syntax\.json: not valid JSON/,
    );
    expect(await loadError("empty.toml", "[accounts]\n")).toMatch(/no account: add at least one/);
    expect(await loadError("nothing.json", "{}")).toMatch(/accounts: must be a table of accounts/);
    expect(await loadError("twice.toml", "[accounts.a]\nmax-size = 1\nmaxSize = 2\n")).toMatch(
      /accounts\.a: max-size and maxSize are the same setting/,
    );
    const { output } = quietOutput();
    await expect(loadAccounts(join(dir, "missing.toml"), {}, output)).rejects.toThrow(
      /cannot read .*ENOENT/,
    );
  });

  it("resolves an account as the command line is: same validation, messages naming the file", async () => {
    const path = await file(
      "resolve.toml",
      '[accounts.a]\nhost = "h"\ntls = "implicit"\nca = "nope.pem"\n',
    );
    const { output } = quietOutput();
    const [spec] = (await loadAccounts(path, {}, output)).accounts;
    await expect(resolveAccount(spec as never, { env: {}, output })).rejects.toThrow(
      `ca (from accounts.a.ca in ${path}): cannot read ${join(dir, "nope.pem")}: ENOENT`,
    );
    const envPath = await file(
      "env.toml",
      '[accounts.a]\nurl = "pop3://u@h"\npasswordEnv = "MY_PW"\n',
    );
    const [envSpec] = (await loadAccounts(envPath, {}, output)).accounts;
    await expect(resolveAccount(envSpec as never, { env: {}, output })).rejects.toThrow(
      "the environment variable MY_PW is not set",
    );
    const account = await resolveAccount(envSpec as never, { env: { MY_PW: "pw" }, output });
    expect(account.config).toMatchObject({
      host: "h",
      port: 110,
      user: "u",
      password: "pw",
      tls: "starttls",
    });
  });

  it("warns when a file holding a password can be read by others", async () => {
    const path = await file("open.toml", '[accounts.a]\nhost = "h"\npassword = "pw"\n');
    await chmod(path, 0o644);
    const { output, stderr } = quietOutput();
    await loadAccounts(path, {}, output);
    expect(stderr()).toContain(`chmod 600 ${path}`);
    expect(stderr()).not.toContain('"pw"');
  });
});

describe("passwordCommand", () => {
  const run = (command: string, timeoutMs?: number) =>
    runPasswordCommand(command, {
      from: "accounts.a.passwordCommand",
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin" },
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });

  it("the first line of stdout, through /bin/sh", async () => {
    expect(await run("printf 'se cret\\r\\nsecond line\\n'")).toBe("se cret");
    expect(await run("echo one | tr o O")).toBe("One");
  });

  it("a failure names the setting, never the output", async () => {
    await expect(run("echo leaked-secret; exit 3")).rejects.toThrow(
      "accounts.a.passwordCommand: the password command exited with status 3",
    );
    await expect(run("echo leaked-secret; exit 3")).rejects.not.toThrow(/leaked-secret/);
    await expect(run("true")).rejects.toThrow("printed no password");
    await expect(run("kill -TERM $$")).rejects.toThrow("was ended by SIGTERM");
  });

  it("a command that hangs is ended with what it started, after the timeout", async () => {
    const marker = join(dir, `hang-${process.pid}`);
    await expect(run(`sleep 30 & echo $! > ${marker}; wait`, 300)).rejects.toThrow(
      "did not finish within 0.3 s",
    );
    const pid = Number((await readFile(marker, "utf8")).trim());
    // The backgrounded sleep was in the command's process group: gone too.
    let alive = true;
    for (let i = 0; i < 100 && alive; i++) {
      try {
        process.kill(pid, 0);
        await new Promise((r) => setTimeout(r, 20));
      } catch {
        alive = false;
      }
    }
    expect(alive).toBe(false);
  });
});

describe("pop3 fetch --config against a server", () => {
  let f: Fixture;
  let home: string;
  beforeAll(async () => {
    f = await startFixture();
    f.server.addUser("bob", "bob's password");
    f.server.addMessage(USER, "Subject: for alice\r\n\r\nhello alice\r\n");
    f.server.addMessage("bob", "Subject: for bob\r\n\r\nhello bob\r\n");
    f.server.addMessage("bob", "Subject: for bob 2\r\n\r\nagain\r\n");
    home = f.home;
  });
  afterAll(async () => {
    await f.close();
  });

  const accountsFile = async (name: string, extra = ""): Promise<string> => {
    const path = join(home, name);
    await writeFile(
      path,
      `[defaults]
ca = "${f.caFile}"

[accounts.alice]
url = "pop3://${USER}@127.0.0.1:${f.server.port}"
password-env = "ALICE_PW"
maildir = "alice-mail"

[accounts.bob]
url = "pop3s://bob@127.0.0.1:${f.server.tlsPort}"
password-command = "printf '%s\\n' \\"$BOB_PW\\""
mbox = "bob.mbox"
${extra}`,
      { mode: 0o600 },
    );
    return path;
  };
  const env = { ALICE_PW: PASSWORD, BOB_PW: "bob's password" };

  it("fetches every account in turn (password from the environment and from a command)", async () => {
    const config = await accountsFile("both.toml");
    const r = await runCli(home, ["fetch", "--config", config, "--json"], { env });
    expect(r.code, r.err).toBe(0);
    const done = r.out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .filter((e) => e.event === "done");
    expect(done.map((e) => e.stored)).toEqual([1, 2]);
    const alice = await readMaildir(join(home, "alice-mail"));
    expect([...alice.files.values()].map((b) => b.toString())).toEqual([
      "Subject: for alice\r\n\r\nhello alice\r\n",
    ]);
    expect(await readFile(join(home, "bob.mbox"), "latin1")).toContain("hello bob");
    expect(r.out + r.err).not.toContain("bob's password");
    // Again: nothing new; only bob with --account.
    const again = await runCli(home, ["fetch", "--config", config, "--account", "bob"], { env });
    expect(again.code, again.err).toBe(0);
    expect(again.out).toMatch(/^stored 0 messages/m);
    expect(again.out.match(/^stored/gm)).toHaveLength(1);
  });

  it("one account failing does not stop the next; the exit status is the first failure's", async () => {
    const config = await accountsFile("fail.toml");
    const r = await runCli(home, ["fetch", "--config", config], {
      env: { ...env, ALICE_PW: "wrong" },
    });
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/^error: alice: login failed/m);
    expect(r.err).toMatch(/^account bob:$/m);
    expect(r.out).toMatch(/^stored 0 messages .* in .*bob\.mbox$/m);
  });

  it("a one-mailbox command takes the account --account names (or the only one)", async () => {
    const config = await accountsFile("stat.toml");
    const r = await runCli(home, ["stat", "--config", config, "--account", "bob", "--json"], {
      env,
    });
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).count).toBe(2);
    const ambiguous = await runCli(home, ["stat", "--config", config], { env });
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.err).toMatch(/has 2 accounts \(alice, bob\): name one with --account NAME/);
    const unknown = await runCli(home, ["stat", "--config", config, "--account", "carol"], { env });
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/--account carol: no such account .* \(it has alice, bob\)/);
  });

  it("the account's password from ~/.netrc when the file gives none", async () => {
    const path = join(home, "netrc.toml");
    await writeFile(
      path,
      `[accounts.alice]\nurl = "pop3://${USER}@127.0.0.1:${f.server.port}"\nca = "${f.caFile}"\n`,
    );
    const netrc = join(home, "netrc");
    await writeFile(netrc, `machine 127.0.0.1 login ${USER} password "${PASSWORD}"\n`, {
      mode: 0o600,
    });
    const r = await runCli(home, ["stat", "--config", path, "--json"], { env: { NETRC: netrc } });
    expect(r.code, r.err).toBe(0);
  });

  it("the server and per-account fetch flags are refused beside --config; bad files are exit 1", async () => {
    const config = await accountsFile("refuse.toml");
    for (const args of [
      ["fetch", "--config", config, "--host", "x"],
      ["fetch", "--config", config, "--maildir", "m"],
      ["fetch", "--config", config, f.url],
      ["stat", "--config", config, "--account", "bob", "--pin-sha256", `${"A".repeat(43)}=`],
    ]) {
      const r = await runCli(home, args, { env });
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.err).toMatch(
        /with --config, each account gives its own server and delivery: remove /,
      );
    }
    const broken = join(home, "broken.toml");
    await writeFile(broken, "[accounts.a]\nport = 0\n");
    const r = await runCli(home, ["fetch", "--config", broken, "--json"]);
    expect(r.code).toBe(1);
    const error = JSON.parse(r.out.trim()).error;
    expect(error.code).toBe("POP3_CONFIG");
    expect(error.message).toContain("accounts.a.port: must be from 1 to 65535, got 0");
  });
});
