import { spawnSync } from "node:child_process";
import { cp, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { type AddressInfo, createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type Fixture,
  makeMessages,
  removeDir,
  runCli,
  startFixture,
  tempDir,
  USER,
} from "./helpers";

const PACKAGE_DIR = fileURLToPath(new URL("..", import.meta.url));

let home: string;
beforeAll(async () => {
  home = await tempDir();
});
afterAll(async () => {
  await removeDir(home);
});

describe("pop3 --version", () => {
  it("prints package.json's version and exits 0 (-V too)", async () => {
    const manifest = JSON.parse(await readFile(join(PACKAGE_DIR, "package.json"), "utf8")) as {
      version: string;
    };
    for (const flag of ["--version", "-V"]) {
      const run = await runCli(home, [flag]);
      expect(run.code, run.err).toBe(0);
      expect(run.out).toBe(`${manifest.version}\n`);
      expect(run.err).toBe("");
    }
  });

  it("reads the package.json installed beside dist/, not a copy bundled at build time", async () => {
    // An installed layout: <pkg>/package.json, <pkg>/dist/index.js, dependencies resolvable.
    const pkg = join(home, "installed");
    await mkdir(pkg);
    await cp(join(PACKAGE_DIR, "dist"), join(pkg, "dist"), { recursive: true });
    await symlink(join(PACKAGE_DIR, "node_modules"), join(pkg, "node_modules"));
    await writeFile(join(pkg, "package.json"), JSON.stringify({ version: "9.8.7-test" }));
    const run = spawnSync(process.execPath, [join(pkg, "dist", "index.js"), "--version"], {
      encoding: "utf8",
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: home },
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toBe("9.8.7-test\n");
  });
});

describe("error messages", () => {
  let f: Fixture;
  const messages = makeMessages(3, { seed: 15 });
  beforeAll(async () => {
    f = await startFixture();
  });
  afterAll(async () => {
    await f.close();
  });
  beforeEach(() => {
    f.server.reset();
    for (const m of messages) f.server.addMessage(USER, m);
  });

  it("a URL with another scheme, or none, is called that (not 'too many arguments')", async () => {
    const imap = await runCli(home, ["list", "imap://alice:secret@mail.example.org"]);
    expect(imap.code).toBe(1);
    expect(imap.err).toBe(
      "error: imap://alice:***@mail.example.org is not a POP3 URL: the scheme must be pop3:// (STLS) or pop3s:// (implicit TLS), not imap://\n",
    );
    for (const bare of ["alice@mail.example.org", "mail.example.org:995", "localhost"]) {
      const run = await runCli(home, ["stat", bare]);
      expect(run.code, bare).toBe(1);
      expect(run.err).toBe(
        `error: ${bare}: a server is given as a URL with its scheme: pop3://${bare} (STLS) or pop3s://${bare} (implicit TLS)\n`,
      );
    }
    // An option's value is not a stray server: this one fails later, for want of a password.
    const user = await runCli(home, ["stat", "--user", "alice@example.org", "--host", "127.0.0.1"]);
    expect(user.code).toBe(1);
    expect(user.err).toMatch(/^error: no password for alice@example.org@127\.0\.0\.1/);
  });

  it("a --ca file that is not a PEM certificate is refused when read", async () => {
    const cases: [string, string | Buffer, RegExp][] = [
      ["text.pem", "hello\n", /no "-----BEGIN CERTIFICATE-----" block in it$/],
      ["der.crt", Buffer.from([0x30, 0x82, 0x03, 0x0d, 0x30, 0x82, 0xff, 0xfe]), /DER\?/],
      ["key.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", /private key/],
      [
        "broken.pem",
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
        /certificate 1 of 1 cannot be parsed/,
      ],
    ];
    const dialled = f.server.stats().connections;
    for (const [name, content, why] of cases) {
      const file = join(home, name);
      await writeFile(file, content);
      const run = await runCli(home, ["stat", f.url, "--ca", file], { env: f.env });
      expect(run.code, name).toBe(1);
      const line = run.err.trimEnd();
      expect(line.startsWith(`error: ca (from --ca): ${file} is not a PEM certificate: `)).toBe(
        true,
      );
      expect(line).toMatch(why);
    }
    // Refused before dialling: the server never saw a connection.
    expect(f.server.stats().connections).toBe(dialled);
    // The real certificate still works.
    const ok = await runCli(home, ["stat", f.url, ...f.trust], { env: f.env });
    expect(ok.code, ok.err).toBe(0);
  });

  it("doctor: a failed login is said once; a refused port is not a TLS failure, code POP3_CONNECTION", async () => {
    const login = await runCli(home, ["doctor", f.url, ...f.trust], {
      env: { POP3_PASSWORD: "wrong" },
    });
    expect(login.code).toBe(3);
    expect(login.out).not.toMatch(/login failed: login failed/);
    expect(login.out).toMatch(/^ {2}login +failed: (?!login failed)\S/m);

    const closed = await closedPort();
    for (const scheme of ["pop3", "pop3s"]) {
      const run = await runCli(home, ["doctor", `${scheme}://127.0.0.1:${closed}`, "--json"]);
      expect(run.code).toBe(2);
      const { error } = JSON.parse(run.out) as { error: { code: string; message: string } };
      expect(error.code, scheme).toBe("POP3_CONNECTION");
      expect(error.message).toMatch(/^could not connect.*ECONNREFUSED/);
      expect(run.err).not.toMatch(/TLS/);
    }
  });

  it("fetch: a failed message names its number once", async () => {
    // LIST announces 3 octets less than RETR delivers: each download fails the size check.
    f.server.faults.add({ on: "LIST", times: 1, fault: { type: "wrong-size", delta: -3 } });
    // The fault proxy sees commands only in cleartext: --tls none.
    const args = ["fetch", f.url, "--tls", "none", "--maildir", join(home, "M")];
    const run = await runCli(home, args, { env: f.env });
    expect(run.code).toBe(6);
    const warnings = run.err.split("\n").filter((l) => l.startsWith("warning: message "));
    expect(warnings, run.err).toHaveLength(3);
    for (const line of warnings) expect(line).not.toMatch(/^warning: message (\d+) .*message \1\b/);
  });

  it("fetch --json: every line of stdout is one JSON object, errors included", async () => {
    const closed = await closedPort();
    const run = await runCli(
      home,
      ["fetch", `pop3://alice@127.0.0.1:${closed}`, "--maildir", join(home, "J"), "--json"],
      { env: f.env },
    );
    expect(run.code).toBe(2);
    const lines = run.out.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({
      error: { code: "POP3_CONNECTION", exitCode: 2 },
    });
    // And an error before any connection (a usage error) too.
    const usage = await runCli(home, ["fetch", f.url, "--json"], { env: f.env });
    expect(usage.code).toBe(1);
    expect(usage.out.trimEnd().split("\n")).toHaveLength(1);
    expect(JSON.parse(usage.out)).toMatchObject({ error: { code: "USAGE" } });
  });

  it("retr --json and top --json print JSON with the bytes in base64, not the raw bytes", async () => {
    const retr = await runCli(home, ["retr", f.url, ...f.trust, "2", "--json"], { env: f.env });
    expect(retr.code, retr.err).toBe(0);
    const doc = JSON.parse(retr.out) as { msg: number; size: number; base64: string };
    expect(Object.keys(doc)).toEqual(["msg", "size", "base64"]);
    expect(doc.msg).toBe(2);
    expect(doc.size).toBe(messages[1]?.length);
    expect(Buffer.from(doc.base64, "base64").equals(messages[1] as Buffer)).toBe(true);

    const top = await runCli(home, ["top", f.url, ...f.trust, "1", "0", "--json"], { env: f.env });
    expect(top.code, top.err).toBe(0);
    const head = JSON.parse(top.out) as { msg: number; lines: number; base64: string };
    expect(head).toMatchObject({ msg: 1, lines: 0 });
    expect(Buffer.from(head.base64, "base64").toString("latin1")).toMatch(/^Subject: message 1$/m);
  });
});

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("the wrong port for the scheme", () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await startFixture();
  });
  afterAll(async () => {
    await f.close();
  });

  it("pop3s:// to a plain POP3 port says the port speaks plain POP3 (list and doctor)", async () => {
    const url = `pop3s://${USER}@127.0.0.1:${f.server.port}`;
    for (const command of ["list", "doctor"]) {
      const run = await runCli(home, [command, url, ...f.trust, "--json"], { env: f.env });
      expect(run.code, command).toBe(2);
      const { error } = JSON.parse(run.out) as { error: { code: string; message: string } };
      expect(error.code).toBe("POP3_TLS");
      expect(error.message).toMatch(
        new RegExp(
          `^127\\.0\\.0\\.1:${f.server.port} speaks plain POP3, not TLS \\(it greeted "\\+OK[^"]*" in the clear\\): use pop3://`,
        ),
      );
      expect(error.message).not.toMatch(/wrong version|ssl3_get_record/);
    }
  });

  it("pop3:// to an implicit-TLS port says so within seconds, not after the 30 s timeout (list and doctor)", async () => {
    for (const command of ["list", "doctor"]) {
      const started = Date.now();
      const run = await runCli(
        home,
        [command, `pop3://${USER}@127.0.0.1:${f.server.tlsPort}`, ...f.trust, "--json"],
        { env: f.env },
      );
      const elapsed = Date.now() - started;
      expect(run.code, command).toBe(2);
      const { error } = JSON.parse(run.out) as { error: { code: string; message: string } };
      expect(error.code).toBe("POP3_TIMEOUT");
      expect(error.message).toMatch(
        /answers a TLS handshake: it is an implicit-TLS port.*pop3s:\/\//,
      );
      expect(elapsed).toBeLessThan(15_000);
    }
  });

  it("a silent plain port is not called a TLS port: the usual greeting timeout", async () => {
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      for (const command of ["list", "doctor"]) {
        const run = await runCli(
          home,
          [command, `pop3://${USER}@127.0.0.1:${port}`, "--timeout", "5", "--json"],
          { env: f.env },
        );
        expect(run.code, command).toBe(2);
        const { error } = JSON.parse(run.out) as { error: { code: string; message: string } };
        expect(error.message).not.toMatch(/TLS/);
        expect(error.message).toMatch(/greeting|no answer/);
      }
    } finally {
      silent.close();
    }
  });
});

describe("fetch exit status", () => {
  let f: Fixture;
  const messages = makeMessages(3, { seed: 16 });
  beforeAll(async () => {
    f = await startFixture();
  });
  afterAll(async () => {
    await f.close();
  });
  beforeEach(() => {
    f.server.reset();
    f.server.faults.clear();
    for (const m of messages) f.server.addMessage(USER, m);
  });
  // The fault proxy sees commands only in cleartext: --tls none.
  const fetch = (...args: string[]) =>
    runCli(home, ["fetch", f.url, "--tls", "none", ...args], { env: f.env });
  const lastEvent = (out: string) =>
    JSON.parse(out.trimEnd().split("\n").at(-1) as string) as Record<string, unknown>;

  it("the connection dropped at QUIT with nothing to commit is not a partial fetch (exit 0)", async () => {
    f.server.faults.add({ on: "QUIT", fault: { type: "drop", afterBytes: 0 } });
    const json = await fetch("--maildir", join(home, "Q1"), "--json");
    expect(json.code, json.err).toBe(0);
    expect(lastEvent(json.out)).toMatchObject({
      event: "done",
      stored: 3,
      failed: 0,
      committed: null,
      exitCode: 0,
    });
    expect(lastEvent(json.out)).not.toHaveProperty("error");
    const text = await fetch("--maildir", join(home, "Q2"));
    expect(text.code, text.err).toBe(0);
    expect(text.err).toMatch(/no answer to QUIT .*nothing needed committing/);
    expect(text.out).toMatch(/^stored 3 messages /);
  });

  it("the connection dropped at QUIT with deletions pending is partial (exit 6), and says why", async () => {
    f.server.faults.add({ on: "QUIT", fault: { type: "drop", afterBytes: 0 } });
    const json = await fetch("--maildir", join(home, "Q3"), "--delete", "--json");
    expect(json.code).toBe(6);
    expect(lastEvent(json.out)).toMatchObject({
      event: "done",
      stored: 3,
      committed: false,
      exitCode: 6,
      code: expect.stringMatching(/^POP3_/),
      error: expect.any(String),
    });
    // The proxy dropped only QUIT's answer: the server did commit, which the client cannot know.
    expect(f.server.messages(USER)).toHaveLength(0);
  });
});

describe("the flags for accounts, polling, pinning and verbosity", () => {
  it("are in --help, global or fetch's own; bad values are usage errors naming the flag", async () => {
    const help = await runCli(home, ["--help"]);
    expect(help.code).toBe(0);
    for (const flag of [
      "--config",
      "--account",
      "--pin-sha256",
      "--mechanism",
      "--quiet",
      "--verbose",
    ]) {
      expect(help.out, flag).toMatch(new RegExp(`^ {2}(-\\w, )?${flag}\\b`, "m"));
    }
    const fetchHelp = await runCli(home, ["fetch", "--help"]);
    for (const flag of ["--daemon", "--interval"]) {
      expect(fetchHelp.out, flag).toMatch(new RegExp(`^ {2}${flag}\\b`, "m"));
    }
    const zero = await runCli(home, [
      "fetch",
      "pop3://a@127.0.0.1:1",
      "--maildir",
      "m",
      "--interval",
      "0",
    ]);
    expect(zero.code).toBe(1);
    expect(zero.err).toMatch(
      /--interval <seconds>' argument '0' is invalid\. must be a number of seconds, at least 1/,
    );
    const missing = await runCli(home, ["stat", "--config", join(home, "no-such.toml")]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/--config: cannot read .*no-such\.toml: ENOENT/);
  });
});
