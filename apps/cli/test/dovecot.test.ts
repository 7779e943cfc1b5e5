import { execFileSync } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeMessages, readMaildir, removeDir, runCli, tempDir } from "./helpers";

/**
 * `fetch` against a real Dovecot (scripts/dovecot/dovecot.sh; CI starts it). Skipped when
 * POP3_DOVECOT_HOST is unset, unless POP3_REQUIRE_PEERS=1 makes a missing peer a failure. Uses
 * its own Dovecot user (dave, "the CLI's" in dovecot.sh), so other suites never see its mail.
 */
const env = process.env;
const host = env["POP3_DOVECOT_HOST"];
const required = env["POP3_REQUIRE_PEERS"] === "1";
const script = fileURLToPath(new URL("../../../scripts/dovecot/dovecot.sh", import.meta.url));

const accounts = new Map(
  (env["POP3_DOVECOT_USERS"] ?? "alice:alice-password")
    .split(",")
    .map((entry) => entry.split(":") as [string, string]),
);
const USER = accounts.has("dave") ? "dave" : "alice";
const PASSWORD = accounts.get(USER) ?? "";

if (host === undefined && required) {
  describe("fetch against Dovecot", () => {
    it("needs a running Dovecot (POP3_REQUIRE_PEERS=1)", () => {
      expect.fail(
        "POP3_DOVECOT_HOST is not set: start scripts/dovecot/dovecot.sh and export its env",
      );
    });
  });
}

function dovecot(args: string[], input?: Buffer): string {
  return execFileSync("bash", [script, ...args], {
    input,
    stdio: ["pipe", "pipe", "inherit"],
    encoding: "utf8",
  });
}

describe.skipIf(host === undefined)("fetch against Dovecot", () => {
  const messages = makeMessages(4, { large: [2], seed: 9 });
  let home: string;
  const mailDir = () => join(env["POP3_DOVECOT_MAIL_ROOT"] as string, USER, "Maildir");

  beforeAll(async () => {
    home = await tempDir();
    dovecot(["reset-mail", USER]);
    for (const message of messages) dovecot(["deliver", USER, "-"], message);
  });
  afterAll(async () => {
    if (host !== undefined) dovecot(["reset-mail", USER]);
    await removeDir(home);
  });

  it("fetches into a Maildir byte for byte as Dovecot stores the messages, then nothing new", async () => {
    const url = `pop3://${USER}@${host}:${env["POP3_DOVECOT_PORT"] ?? 11110}`;
    const args = [
      "fetch",
      url,
      "--ca",
      env["POP3_DOVECOT_CA"] as string,
      "--servername",
      "localhost",
    ];
    const dest = join(home, "Maildir");
    const first = await runCli(home, [...args, "--maildir", dest, "--json"], {
      env: { POP3_PASSWORD: PASSWORD },
    });
    expect(first.code, first.err).toBe(0);
    const done = JSON.parse(first.out.trim().split("\n").at(-1) as string);
    expect(done).toMatchObject({ stored: messages.length, failed: 0 });

    // Dovecot's own files (moved to cur/ by the session), in their CRLF form.
    const served: string[] = [];
    for (const sub of ["cur", "new"]) {
      for (const name of await readdir(join(mailDir(), sub))) {
        served.push((await readFile(join(mailDir(), sub, name))).toString("latin1"));
      }
    }
    const fetched = [...(await readMaildir(dest)).files.values()].map((b) => b.toString("latin1"));
    expect(fetched.sort()).toEqual(served.sort());
    expect(fetched.sort()).toEqual(messages.map((m) => m.toString("latin1")).sort());

    const again = await runCli(home, [...args, "--maildir", dest, "--json"], {
      env: { POP3_PASSWORD: PASSWORD },
    });
    expect(again.code, again.err).toBe(0);
    expect(JSON.parse(again.out.trim().split("\n").at(-1) as string)).toMatchObject({ stored: 0 });
  });
});

describe.skipIf(host === undefined)(
  "fetch against Dovecot: a message without final newline",
  () => {
    // Dovecot's LIST counts the file; RETR adds the CRLF the last line needs (RFC 1939 §3).
    const noNewline = Buffer.from(
      "From: d@example.org\r\nSubject: no newline\r\n\r\nlast line, no CRLF",
    );
    let home: string;

    beforeAll(async () => {
      home = await tempDir();
      dovecot(["reset-mail", USER]);
      dovecot(["deliver", USER, "-"], noNewline);
    });
    afterAll(async () => {
      if (host !== undefined) dovecot(["reset-mail", USER]);
      await removeDir(home);
    });

    it("is stored with the CRLF Dovecot sent, with a warning, and not fetched again", async () => {
      const url = `pop3://${USER}@${host}:${env["POP3_DOVECOT_PORT"] ?? 11110}`;
      const dest = join(home, "Maildir");
      const args = ["fetch", url, "--ca", env["POP3_DOVECOT_CA"] as string, "--maildir", dest];
      const first = await runCli(home, [...args, "--json"], { env: { POP3_PASSWORD: PASSWORD } });
      expect(first.code, first.err).toBe(0);
      expect(JSON.parse(first.out.trim().split("\n").at(-1) as string)).toMatchObject({
        stored: 1,
        failed: 0,
      });
      expect(first.err).toMatch(/warning: message 1: .*no final newline/);
      const files = [...(await readMaildir(dest)).files.values()];
      expect(files).toEqual([Buffer.concat([noNewline, Buffer.from("\r\n")])]);

      const again = await runCli(home, [...args, "--json"], { env: { POP3_PASSWORD: PASSWORD } });
      expect(again.code, again.err).toBe(0);
      expect(JSON.parse(again.out.trim().split("\n").at(-1) as string)).toMatchObject({
        stored: 0,
      });
    });
  },
);
