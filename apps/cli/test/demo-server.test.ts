import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./helpers";

/** The built demo server of apps/demo-server, as `pnpm demo` runs it. */
const DEMO = fileURLToPath(new URL("../../demo-server/dist/main.js", import.meta.url));

let home: string;
let demo: ChildProcess;
let port = 0;
let ca = "";

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "pop3-cli-demo-"));
  demo = spawn(process.execPath, [DEMO], {
    env: {
      ...process.env,
      POP3_DEMO_DATA: join(home, "data"),
      POP3_DEMO_PORT: "0",
      POP3_DEMO_TLS_PORT: "0",
    },
    stdio: ["ignore", "pipe", "ignore"],
  });
  let output = "";
  demo.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  for (let i = 0; i < 400 && !output.includes("Stop with Ctrl-C"); i++)
    await new Promise((r) => setTimeout(r, 50));
  port = Number(/plain \+ STLS\s+127\.0\.0\.1:(\d+)/.exec(output)?.[1]);
  ca = join(home, "data", "tls", "cert.pem");
}, 60_000);

afterAll(async () => {
  demo.kill("SIGKILL");
  await rm(home, { recursive: true, force: true });
});

describe("the pop3 CLI against the demo server", () => {
  it("lists alice's mailbox over STLS, as the demo's banner says", async () => {
    const result = await runCli(
      home,
      ["list", "--url", `pop3://alice@127.0.0.1:${port}`, "--ca", ca, "--json"],
      {
        env: { POP3_PASSWORD: "alice" },
      },
    );
    expect(result.code, result.err).toBe(0);
    expect(JSON.parse(result.out)).toHaveLength(12);
  });

  it("fetches every message into a Maildir, byte for byte as the server sends it", async () => {
    const maildir = join(home, "fetched");
    const args = [
      "fetch",
      "--url",
      `pop3://alice@127.0.0.1:${port}`,
      "--ca",
      ca,
      "--maildir",
      maildir,
    ];
    const result = await runCli(home, args, { env: { POP3_PASSWORD: "alice" } });
    expect(result.code, result.err).toBe(0);
    const files = (await readdir(join(maildir, "new"))).sort();
    expect(files).toHaveLength(12);
    const stored = (await Promise.all(files.map((f) => readFile(join(maildir, "new", f))))).map(
      (b) => b.toString("latin1"),
    );
    const served: string[] = [];
    for (let msg = 1; msg <= 12; msg++) {
      const retrieved = await runCli(
        home,
        ["retr", String(msg), "--url", `pop3://alice@127.0.0.1:${port}`, "--ca", ca],
        {
          env: { POP3_PASSWORD: "alice" },
        },
      );
      served.push(retrieved.stdout.toString("latin1"));
    }
    expect([...stored].sort()).toEqual([...served].sort());
    expect(served[4]).toContain("\r\n.hidden? no: dot-stuffed on the wire\r\n");
    const again = await runCli(home, args, { env: { POP3_PASSWORD: "alice" } });
    expect(again.code).toBe(0);
    expect(await readdir(join(maildir, "new"))).toHaveLength(12);
  });
});
