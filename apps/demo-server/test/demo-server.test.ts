import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect } from "pop3-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const main = fileURLToPath(new URL("../dist/main.js", import.meta.url));
let dataDir: string;
let child: ChildProcess;
let output = "";
let ports: { plain: number; tls: number };

beforeAll(async () => {
  execFileSync("pnpm", ["exec", "tsup"], {
    cwd: fileURLToPath(new URL("..", import.meta.url)),
    stdio: "ignore",
  });
  dataDir = mkdtempSync(join(tmpdir(), "pop3-demo-"));
  child = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      POP3_DEMO_DATA: dataDir,
      POP3_DEMO_PORT: "0",
      POP3_DEMO_TLS_PORT: "0",
      NO_COLOR: "1",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  for (let i = 0; i < 200 && !output.includes("Stop with Ctrl-C"); i++)
    await new Promise((r) => setTimeout(r, 50));
  const plain = /plain \+ STLS\s+127\.0\.0\.1:(\d+)/.exec(output)?.[1];
  const tls = /implicit TLS\s+127\.0\.0\.1:(\d+)/.exec(output)?.[1];
  ports = { plain: Number(plain), tls: Number(tls) };
}, 60_000);

afterAll(() => {
  child.kill("SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
});

const ca = () => readFileSync(join(dataDir, "tls", "cert.pem"), "utf8");

describe("demo server", () => {
  it("starts with a generated certificate, prints how to connect, and serves alice's 12 messages over STLS", async () => {
    expect(output).toContain("curl --ssl-reqd");
    expect(output).toContain("poplib");
    await using client = await connect({
      host: "127.0.0.1",
      port: ports.plain,
      tlsOptions: { ca: ca() },
    });
    expect(client.secure).toBe(true);
    await client.login({ user: "alice", password: "alice" });
    const listing = await client.list();
    expect(listing).toHaveLength(12);
    expect(Math.max(...listing.map((l) => l.size))).toBeGreaterThan(4 * 1024 * 1024);
    const dots = (await client.retrieveBytes(5)).toString();
    expect(dots).toContain(
      "\r\n.hidden? no: dot-stuffed on the wire\r\n..two dots\r\n.\r\nafter a lone dot\r\n",
    );
  });

  it("serves implicit TLS to a client that sends no SNI, and refuses a wrong password", async () => {
    await using client = await connect({
      host: "127.0.0.1",
      port: ports.tls,
      tls: "implicit",
      tlsOptions: { ca: ca() },
    });
    await expect(client.login({ user: "bob", password: "wrong" })).rejects.toMatchObject({
      responseCode: "AUTH",
    });
  });

  it("adds mail from the command line", async () => {
    const path = execFileSync(process.execPath, [main, "deliver", "bob", "-"], {
      env: { ...process.env, POP3_DEMO_DATA: dataDir },
      input: "Subject: from stdin\r\n\r\nhello\r\n",
    })
      .toString()
      .trim();
    expect(path).toMatch(/\/bob\/Maildir\/new\//);
    await using client = await connect({
      host: "127.0.0.1",
      port: ports.plain,
      tlsOptions: { ca: ca() },
    });
    await client.login({ user: "bob", password: "bob" });
    expect((await client.retrieveBytes(2)).toString()).toBe("Subject: from stdin\r\n\r\nhello\r\n");
  });

  it("refuses bad configuration with a readable error", () => {
    let message = "";
    try {
      execFileSync(process.execPath, [main], {
        env: { ...process.env, POP3_DEMO_PORT: "99999" },
        stdio: "pipe",
      });
    } catch (error) {
      message = String((error as { stderr: Buffer }).stderr);
      expect((error as { status: number }).status).toBe(2);
    }
    expect(message).toContain("port (POP3_DEMO_PORT)");
  });

  it("shuts down on SIGINT without deleting what was not QUIT", async () => {
    const client = await connect({
      host: "127.0.0.1",
      port: ports.plain,
      tlsOptions: { ca: ca() },
    });
    await client.login({ user: "alice", password: "alice" });
    await client.delete(1);
    const exited = new Promise<number | null>((resolve) =>
      child.once("exit", (code) => resolve(code)),
    );
    child.kill("SIGINT");
    expect(await exited).toBe(0);
    client.close();
    const maildir = join(dataDir, "mail", "alice", "Maildir");
    expect(
      readdirSync(join(maildir, "cur")).length + readdirSync(join(maildir, "new")).length,
    ).toBe(12);
  });
});

describe("demo server with --workers 2", () => {
  let workersDir: string;
  let primary: ChildProcess;
  let banner = "";
  let workerPids: number[] = [];

  const isAlive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  beforeAll(async () => {
    workersDir = mkdtempSync(join(tmpdir(), "pop3-demo-workers-"));
    primary = spawn(process.execPath, [main, "--workers", "2"], {
      env: {
        ...process.env,
        POP3_DEMO_DATA: workersDir,
        POP3_DEMO_PORT: "0",
        POP3_DEMO_TLS_PORT: "0",
        NO_COLOR: "1",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    primary.stdout?.on("data", (chunk: Buffer) => {
      banner += chunk.toString();
    });
    primary.stderr?.on("data", (chunk: Buffer) => {
      banner += chunk.toString();
    });
    for (let i = 0; i < 400 && !banner.includes("Stop with Ctrl-C"); i++)
      await new Promise((r) => setTimeout(r, 50));
    workerPids = (/workers\s+2 \(pids ([\d, ]+)\)/.exec(banner)?.[1] ?? "")
      .split(", ")
      .map(Number)
      .filter((pid) => pid > 0);
  }, 60_000);

  afterAll(() => {
    primary.kill("SIGKILL");
    for (const pid of workerPids) if (isAlive(pid)) process.kill(pid, "SIGKILL");
    rmSync(workersDir, { recursive: true, force: true });
  });

  it("serves from two processes on the shared ports and stops them all on SIGTERM", async () => {
    expect(workerPids).toHaveLength(2);
    const port = Number(/plain \+ STLS\s+127\.0\.0\.1:(\d+)/.exec(banner)?.[1]);
    const cert = readFileSync(join(workersDir, "tls", "cert.pem"), "utf8");
    for (let i = 0; i < 4; i++) {
      await using client = await connect({ host: "127.0.0.1", port, tlsOptions: { ca: cert } });
      await client.login({ user: "alice", password: "alice" });
      expect(await client.list()).toHaveLength(12);
    }
    const exited = new Promise<number | null>((resolve) =>
      primary.once("exit", (code) => resolve(code)),
    );
    primary.kill("SIGTERM");
    expect(await exited).toBe(0);
    for (const pid of workerPids) expect(isAlive(pid)).toBe(false);
  });

  it("refuses --workers that is not a number or auto", () => {
    let message = "";
    try {
      execFileSync(process.execPath, [main, "--workers", "many"], { stdio: "pipe" });
    } catch (error) {
      message = String((error as { stderr: Buffer }).stderr);
      expect((error as { status: number }).status).toBe(2);
    }
    expect(message).toContain("--workers takes a number");
  });
});
