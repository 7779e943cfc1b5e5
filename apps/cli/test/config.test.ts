import { spawn } from "node:child_process";
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, type Fixture, PASSWORD, runCli, startFixture, USER } from "./helpers";

let f: Fixture;
beforeAll(async () => {
  f = await startFixture();
  f.server.addMessage(USER, "Subject: one\r\n\r\nhello\r\n");
  f.server.addMessage(USER, "Subject: two\r\n\r\nworld\r\n");
});
afterAll(async () => {
  await f.close();
});

const hostPort = (): string[] => ["--host", "127.0.0.1", "--port", String(f.server.port)];

describe("where the connection settings come from", () => {
  it("a positional URL, anywhere among the arguments, with the password from POP3_PASSWORD", async () => {
    for (const args of [
      ["stat", f.url, ...f.trust, "--json"],
      [f.url, "stat", ...f.trust, "--json"],
      ["--json", ...f.trust, "stat", f.url],
    ]) {
      const r = await runCli(f.home, args, { env: f.env });
      expect(r.code, r.err).toBe(0);
      expect(JSON.parse(r.out)).toEqual({ count: 2, size: expect.any(Number) });
      expect(r.err).toBe("");
    }
  });

  it("--url, and pop3s:// (implicit TLS)", async () => {
    const viaFlag = await runCli(f.home, ["stat", "--url", f.url, ...f.trust, "--json"], {
      env: f.env,
    });
    expect(viaFlag.code, viaFlag.err).toBe(0);
    const implicit = await runCli(f.home, ["stat", f.tlsUrl, ...f.trust, "--json"], { env: f.env });
    expect(implicit.code, implicit.err).toBe(0);
    expect(JSON.parse(implicit.out).count).toBe(2);
  });

  it("flags only", async () => {
    const r = await runCli(f.home, ["stat", ...hostPort(), "--user", USER, ...f.trust], {
      env: f.env,
    });
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^2 messages, \d+ octets/);
  });

  it("POP3_HOST, POP3_PORT, POP3_USER, POP3_PASSWORD and POP3_CA", async () => {
    const r = await runCli(f.home, ["stat", "--json"], {
      env: {
        POP3_HOST: "127.0.0.1",
        POP3_PORT: String(f.server.port),
        POP3_USER: USER,
        POP3_PASSWORD: PASSWORD,
        POP3_CA: f.caFile,
      },
    });
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).count).toBe(2);
  });

  it("POP3_URL, overridden per setting by POP3_PORT, which a URL argument and flags override", async () => {
    const env = { ...f.env, POP3_URL: `pop3://${USER}@127.0.0.1:1`, POP3_CA: f.caFile };
    // POP3_URL alone points at a closed port: connection error.
    expect((await runCli(f.home, ["stat"], { env })).code).toBe(2);
    // POP3_PORT beats POP3_URL.
    const byEnv = await runCli(f.home, ["stat"], {
      env: { ...env, POP3_PORT: String(f.server.port) },
    });
    expect(byEnv.code, byEnv.err).toBe(0);
    // A URL argument beats POP3_PORT...
    const byUrl = await runCli(f.home, ["stat", f.url], { env: { ...env, POP3_PORT: "1" } });
    expect(byUrl.code, byUrl.err).toBe(0);
    // ...and --port beats the URL argument.
    const byFlag = await runCli(
      f.home,
      ["stat", `pop3://${USER}@127.0.0.1:1`, "--port", String(f.server.port)],
      {
        env,
      },
    );
    expect(byFlag.code, byFlag.err).toBe(0);
  });

  it("~/.netrc (or $NETRC) gives the login and the password for the host", async () => {
    const netrc = join(f.home, "netrc");
    await writeFile(
      netrc,
      `# test\nmachine example.org login nobody password nope\nmachine 127.0.0.1\n  login ${USER}\n  password "${PASSWORD}"\ndefault login anon password x\n`,
    );
    await chmod(netrc, 0o600);
    const r = await runCli(f.home, ["stat", ...hostPort(), ...f.trust, "--json"], {
      env: { NETRC: netrc },
    });
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).count).toBe(2);
    expect(r.err).toBe("");
    // With another user given, the entry for alice is not used.
    const other = await runCli(f.home, ["stat", ...hostPort(), "--user", "bob", ...f.trust], {
      env: { NETRC: netrc },
    });
    expect(other.code).toBe(1);
    expect(other.err).toMatch(/no password for bob@127\.0\.0\.1/);
    // ~/.netrc by default.
    await writeFile(
      join(f.home, ".netrc"),
      `machine 127.0.0.1 login ${USER} password "${PASSWORD}"\n`,
      { mode: 0o600 },
    );
    const home = await runCli(f.home, ["stat", ...hostPort(), ...f.trust], {
      env: { NETRC: undefined },
    });
    expect(home.code, home.err).toBe(0);
  });

  it("warns about a readable ~/.netrc with passwords", async () => {
    const netrc = join(f.home, "open-netrc");
    await writeFile(netrc, `machine 127.0.0.1 login ${USER} password "${PASSWORD}"\n`);
    await chmod(netrc, 0o644);
    const r = await runCli(f.home, ["stat", ...hostPort(), ...f.trust], { env: { NETRC: netrc } });
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/can be read by others/);
  });

  it("a password in argv works but warns, and is never echoed", async () => {
    const viaFlag = await runCli(f.home, ["stat", f.url, ...f.trust, "--password", PASSWORD]);
    expect(viaFlag.code, viaFlag.err).toBe(0);
    expect(viaFlag.err).toMatch(/warning: --password is visible/);
    const url = `pop3://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${f.server.port}`;
    const viaUrl = await runCli(f.home, ["stat", url, ...f.trust]);
    expect(viaUrl.code, viaUrl.err).toBe(0);
    expect(viaUrl.err).toMatch(/warning: a password in the URL is visible/);
    for (const r of [viaFlag, viaUrl]) expect(r.out + r.err).not.toContain(PASSWORD);
  });

  it("asks for the password on a terminal, without echo", async () => {
    // `script` gives the CLI a pseudo-terminal; the password is typed once the prompt shows.
    const output = await new Promise<{ text: string; code: number | null }>((resolve, reject) => {
      const command = [process.execPath, CLI, "stat", f.url, "--ca", f.caFile]
        .map((a) => `'${a}'`)
        .join(" ");
      const child = spawn("script", ["-qec", command, "/dev/null"], {
        env: { PATH: process.env["PATH"], HOME: f.home, NETRC: "/nonexistent", TERM: "dumb" },
        stdio: ["pipe", "pipe", "pipe"],
      });
      let text = "";
      let typed = false;
      child.stdout.on("data", (d: Buffer) => {
        text += d.toString();
        if (!typed && text.includes(`Password for ${USER}@127.0.0.1: `)) {
          typed = true;
          child.stdin.write(`${PASSWORD}\r`);
        }
      });
      child.on("error", reject);
      child.on("close", (code) => resolve({ text, code }));
    });
    expect(output.code, output.text).toBe(0);
    expect(output.text).toMatch(/2 messages/);
    expect(output.text).not.toContain(PASSWORD);
  });

  it("without a terminal and without a password: exit 1 and what to do", async () => {
    const r = await runCli(f.home, ["stat", f.url, ...f.trust]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no password for alice@127\.0\.0\.1: set POP3_PASSWORD/);
  });
});

describe("validation and exit codes", () => {
  it("invalid settings: exit 1, naming each setting and where it came from", async () => {
    const r = await runCli(
      f.home,
      ["stat", "--host", "127.0.0.1", "--port", "99999", "--timeout", "soon"],
      {
        env: { POP3_USER: USER },
      },
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/invalid configuration/);
    expect(r.err).toMatch(/port \(from --port\): must be from 1 to 65535, got "99999"/);
    expect(r.err).toMatch(/timeout \(from --timeout\): must be a number of seconds/);
    const env = await runCli(f.home, ["stat"], {
      env: { POP3_HOST: "127.0.0.1", POP3_PORT: "pop" },
    });
    expect(env.code).toBe(1);
    expect(env.err).toMatch(/port \(from POP3_PORT\): must be a number/);
    const none = await runCli(f.home, ["stat"]);
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/no server given/);
    const badUrl = await runCli(f.home, ["stat", "--url", "http://x"]);
    expect(badUrl.code).toBe(1);
    expect(badUrl.err).toMatch(/pop3:\/\/ or pop3s:\/\//);
    const badTls = await runCli(f.home, ["stat", "--tls", "maybe"]);
    expect(badTls.code).toBe(1);
    expect(badTls.err).toMatch(/Allowed choices are implicit, starttls, none/);
    const badNumber = await runCli(f.home, ["retr", "0", f.url]);
    expect(badNumber.code).toBe(1);
    const unknown = await runCli(f.home, ["frobnicate"]);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/unknown command/);
  });

  it("--json reports errors as JSON too", async () => {
    const r = await runCli(f.home, ["stat", f.url, ...f.trust, "--json", "--password", "wrong"]);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.out)).toEqual({
      error: {
        code: "POP3_SERVER_ERROR",
        message: expect.stringMatching(/login failed/),
        exitCode: 3,
      },
    });
  });

  it("2: nothing listening, an untrusted certificate, no STLS without --allow-cleartext", async () => {
    const closed = await runCli(f.home, ["stat", `pop3://${USER}@127.0.0.1:1`], { env: f.env });
    expect(closed.code).toBe(2);
    expect(closed.err).toMatch(/could not connect/);
    const untrusted = await runCli(f.home, ["stat", f.url], { env: f.env });
    expect(untrusted.code).toBe(2);
    expect(untrusted.err).toMatch(/certificate.*--ca FILE/);
    const insecure = await runCli(f.home, ["stat", f.url, "--insecure"], { env: f.env });
    expect(insecure.code, insecure.err).toBe(0);
  });

  it("3: a wrong password", async () => {
    const r = await runCli(f.home, ["stat", f.url, ...f.trust], {
      env: { POP3_PASSWORD: "wrong" },
    });
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/login failed: .*\[AUTH\]/);
  });

  it("--help everywhere, exit 0", async () => {
    const top = await runCli(f.home, ["--help"]);
    expect(top.code).toBe(0);
    expect(top.out).toMatch(/Exit codes:/);
    for (const command of [
      "capa",
      "stat",
      "list",
      "uidl",
      "retr",
      "top",
      "dele",
      "fetch",
      "doctor",
      "conformance",
    ]) {
      const r = await runCli(f.home, [command, "--help"]);
      expect(r.code, command).toBe(0);
      expect(r.out).toContain(`Usage: pop3 ${command} [options] [url]`);
      expect(r.out).toContain("--trace");
    }
    const bare = await runCli(f.home, []);
    expect(bare.code).toBe(1);
    expect(bare.err).toMatch(/Usage: pop3/);
  });
});
