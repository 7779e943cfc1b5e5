/**
 * Interop with fetchmail, a real fetching client: it logs in, RETRs every message, hands each to
 * an MDA (here a tiny sh script that delivers into a Maildir: tmp/ then rename into new/, named by
 * delivery order), DELEs what was delivered unless `keep`, and QUITs.
 *
 * What fetchmail does to the bytes, and what the comparison does about it:
 * - It undoes the dot-stuffing and drops the terminator (as every client must).
 * - `stripcr`: with an MDA it is ON by default (fetchmail(1): "defaults to 'on' (CR stripping
 *   enabled) when there is an MDA declared"), so files get LF line ends. The STLS run keeps that
 *   default explicitly and compares with wireForm(stored) turned CRLF→LF; wire-form bytes have CR
 *   only inside CRLF, so that mapping is one-to-one and loses nothing. The implicit-TLS run sets
 *   `no stripcr` and compares with wireForm(stored) itself, CRLF and all.
 * - A `Received:` header (fetchmail(1), --invisible: "it generates a Received header into each
 *   message"). The STLS run lets fetchmail add it and removes exactly that one header, which must
 *   be there, first in the file, in fetchmail's format; the implicit-TLS run sets `invisible`,
 *   which suppresses it, and strips nothing.
 * - A message whose first line is empty (here: the empty message) gets a made-up header block
 *   `From: FETCHMAIL-DAEMON` / `To: user@host` / `Subject: Headerless mail from ...` and a blank
 *   line (fetchmail's transact.c, "cons up a set of fake headers"). For the empty message that
 *   exact block is removed and what follows must be empty.
 * Nothing else is normalised: a lost or doubled dot, a lost line, a changed byte all fail.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { startServer, type TestServer } from "../support";
import {
  byteDifference,
  caFiles,
  crlfToLf,
  describePeer,
  type InteropMessage,
  probePeer,
  type RunResult,
  run,
  seed,
  tempDir,
} from "./peers";

const fetchmailPeer = probePeer(
  "fetchmail",
  "fetchmail",
  ["--version"],
  "apt-get install -y fetchmail",
  (output) => {
    const release = /This is fetchmail release (\S+?)(\+|\s)/.exec(output)?.[1];
    if (release === undefined) throw new Error(`unexpected fetchmail --version output: ${output}`);
    if (!/\+SSL/.test(output)) throw new Error("this fetchmail was built without SSL");
    return `fetchmail ${release}`;
  },
);

/** The MDA: one message on stdin into MAILDIR/new/, named by delivery order; exit 75 to refuse. */
const DELIVER_SCRIPT = `#!/bin/sh
maildir="$1"
refuse="$2"
n=$(ls "$maildir/new" | wc -l)
name=$(printf '%04d' $((n + 1))).$$.interop
cat > "$maildir/tmp/$name" || exit 75
if [ -n "$refuse" ] && grep -a -q -e "$refuse" "$maildir/tmp/$name"; then
  rm -f "$maildir/tmp/$name"
  exit 75
fi
mv "$maildir/tmp/$name" "$maildir/new/$name"
`;

const LIMIT_SKIPS_BIG = 1_000_000;

interface FetchOptions {
  port: number;
  /** `ssl` (implicit TLS) instead of STLS on the plain port. */
  implicit: boolean;
  keep: boolean;
  stripcr: boolean;
  invisible: boolean;
  cafile: string;
  /** fetchmail's `limit`: larger messages are left alone. */
  limit?: number;
  /** The MDA refuses (exit 75) messages containing this text. */
  refuse?: string;
  /** Leave out `fetchall`: fetchmail then fetches only uids not in its id file (UIDL). */
  onlyNew?: boolean;
  /** fetchmail's id file (the uids it has seen); a fresh one per run unless given. */
  idFile?: string;
}

interface Fetched {
  readonly result: RunResult;
  /** fetchmail's verbose log (stdout and stderr). */
  readonly log: string;
  /** The delivered files, in delivery order. */
  readonly delivered: Buffer[];
  readonly newDir: string;
}

/** fetchmail's "is USER here" (only named in the Received header it adds). */
const LOCAL_USER = (() => {
  try {
    return userInfo().username;
  } catch {
    return process.env["USER"] ?? "root";
  }
})();

describePeer(fetchmailPeer, "interop: fetchmail", () => {
  const dir = tempDir("fetchmail");
  let ca: string;
  let wrongCa: string;
  let t: TestServer | undefined;
  let messages: InteropMessage[];
  let runs = 0;

  beforeAll(() => {
    ({ ca, wrongCa } = caFiles(dir.path));
    writeFileSync(join(dir.path, "deliver.sh"), DELIVER_SCRIPT, { mode: 0o755 });
  });
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });
  afterAll(() => dir.cleanup());

  async function server(overrides: Parameters<typeof startServer>[0] = {}): Promise<TestServer> {
    t = await startServer(overrides);
    messages = seed(t.store);
    return t;
  }

  /** Runs fetchmail once, in its own home, with an rc file (mode 0600, as fetchmail demands). */
  async function fetch(options: FetchOptions): Promise<Fetched> {
    const home = join(dir.path, `run-${++runs}`);
    const maildir = join(home, "Maildir");
    for (const sub of ["tmp", "new", "cur"]) mkdirSync(join(maildir, sub), { recursive: true });
    const tls = `${options.implicit ? "ssl " : ""}sslproto "tls1.2+" sslcertck sslcertfile "${options.cafile}" sslcommonname "localhost"`;
    const mda = `/bin/sh ${join(dir.path, "deliver.sh")} ${maildir}${options.refuse ? ` '${options.refuse}'` : ""}`;
    const rc = [
      "set no bouncemail",
      "set no syslog",
      options.invisible ? "set invisible" : "",
      `poll 127.0.0.1 with proto POP3 port ${options.port} timeout 60`,
      `  user "alice" there with password "wonderland" is "${LOCAL_USER}" here`,
      `  options ${options.onlyNew ? "" : "fetchall "}${options.keep ? "keep" : "no keep"} ${options.stripcr ? "stripcr" : "no stripcr"} ${tls}`,
      options.limit === undefined ? "" : `  limit ${options.limit}`,
      `  mda "${mda}"`,
      "",
    ].join("\n");
    const rcFile = join(home, "fetchmailrc");
    writeFileSync(rcFile, rc, { mode: 0o600 });
    // Running as root only draws a warning; a non-root user works the same.
    const result = await run(
      "fetchmail",
      [
        "-f",
        rcFile,
        "-v",
        "--nodetach",
        "--pidfile",
        join(home, "pid"),
        "-i",
        options.idFile ?? join(home, "ids"),
      ],
      { env: { HOME: home, FETCHMAILHOME: home, LC_ALL: "C" }, cwd: home, timeoutMs: 180_000 },
    );
    const newDir = join(maildir, "new");
    const delivered = readdirSync(newDir)
      .sort()
      .map((name) => readFileSync(join(newDir, name)));
    return {
      result,
      log: `${result.stdout.toString("latin1")}\n${result.stderr}`,
      delivered,
      newDir,
    };
  }

  /**
   * Undoes what fetchmail documents adding (see the top of this file), strictly: the header it
   * adds must be exactly where and as expected, else the file is returned as it is and the
   * comparison fails.
   */
  function unwrap(file: Buffer, message: InteropMessage, received: boolean, eol: string): Buffer {
    let text = file.toString("latin1");
    if (received) {
      const header = new RegExp(
        `^Received: from 127\\.0\\.0\\.1 \\[127\\.0\\.0\\.1\\]${eol}` +
          `\\tby [^\\r\\n]+ with POP3 \\(fetchmail-[0-9.]+\\)${eol}` +
          `\\tfor <[^>\\r\\n]+> \\(single-drop\\); [^\\r\\n]+${eol}`,
      );
      const match = header.exec(text);
      if (match === null) return file;
      text = text.slice(match[0].length);
    }
    if (message.expected.length === 0) {
      const fake = new RegExp(
        `^From: FETCHMAIL-DAEMON${eol}To: [^\\r\\n]+${eol}` +
          `Subject: Headerless mail from alice's mailbox on 127\\.0\\.0\\.1${eol}${eol}`,
      );
      const match = fake.exec(text);
      if (match === null) return file;
      text = text.slice(match[0].length);
    }
    return Buffer.from(text, "latin1");
  }

  function expectDelivered(
    fetched: Fetched,
    wanted: InteropMessage[],
    form: { received: boolean; lf: boolean },
  ): void {
    expect(fetched.delivered, fetched.log.slice(-3000)).toHaveLength(wanted.length);
    const eol = form.lf ? "\n" : "\r\n";
    for (const [i, message] of wanted.entries()) {
      const file = unwrap(fetched.delivered[i] as Buffer, message, form.received, eol);
      const expected = form.lf ? crlfToLf(message.expected) : message.expected;
      expect(byteDifference(file, expected), message.name).toBeUndefined();
    }
  }

  function expectStoreHolds(wanted: InteropMessage[]): void {
    const left = t?.store.messages("alice") ?? [];
    expect(left).toHaveLength(wanted.length);
    for (const [i, message] of wanted.entries()) {
      expect(byteDifference(left[i]?.bytes ?? new Uint8Array(), message.stored)).toBeUndefined();
    }
  }

  it("STLS (sslproto tls1.2+, sslcertck, test CA), keep: Maildir files with LF ends and its Received header, byte for byte", async () => {
    const t = await server({ allowCleartextAuth: false });
    const fetched = await fetch({
      port: t.port,
      implicit: false,
      keep: true,
      stripcr: true,
      invisible: false,
      cafile: ca,
      limit: LIMIT_SKIPS_BIG,
    });
    expect(fetched.result.code, fetched.log).toBe(0);
    expect(fetched.log).toMatch(/POP3> STLS\s/);
    expect(fetched.log).toMatch(/upgrade to TLS succeeded/);
    // The 30 MB message is over the limit: fetchmail leaves it alone here (the implicit-TLS test
    // fetches it).
    const big = messages.at(-1) as InteropMessage;
    expect(fetched.log).toContain(
      `skipping message alice@127.0.0.1:${messages.length} (${big.expected.length} octets)`,
    );
    expectDelivered(fetched, messages.slice(0, -1), { received: true, lf: true });
    expect(fetched.log).not.toMatch(/POP3> DELE/);
    expectStoreHolds(messages);
  }, 120_000);

  it("implicit TLS (ssl), invisible, no stripcr: every message (30 MB included) is the wire form exactly", async () => {
    const t = await server();
    const fetched = await fetch({
      port: t.tlsPort,
      implicit: true,
      keep: true,
      stripcr: false,
      invisible: true,
      cafile: ca,
    });
    expect(fetched.result.code, fetched.log).toBe(0);
    expect(fetched.log).not.toMatch(/POP3> STLS/);
    expect(fetched.log).toMatch(/SSL\/TLS: using protocol TLSv1\.[23]/);
    expectDelivered(fetched, messages, { received: false, lf: false });
    expectStoreHolds(messages);
    // The 30 MB message makes this one take seconds; the timeout is only there to catch a hang.
  }, 300_000);

  it("keep without fetchall: fetchmail's UIDL tracking fetches only what is new on the next poll", async () => {
    const t = await server();
    const plan: FetchOptions = {
      port: t.tlsPort,
      implicit: true,
      keep: true,
      stripcr: false,
      invisible: true,
      cafile: ca,
      limit: LIMIT_SKIPS_BIG,
      onlyNew: true,
      idFile: join(dir.path, `uids-${runs}`),
    };
    const first = await fetch(plan);
    expect(first.result.code, first.log).toBe(0);
    expect(first.log).toMatch(/POP3> UIDL\n/);
    expectDelivered(first, messages.slice(0, -1), { received: false, lf: false });

    const added = Buffer.from("Subject: later\r\n\r\n..\r\n.\r\n.later\r\n");
    t.store.addMessage("alice", added);
    const second = await fetch(plan);
    expect(second.result.code, second.log).toBe(0);
    expect(second.log).not.toMatch(/POP3> RETR [1-6]\n/);
    const later = { name: "later", stored: added, expected: added };
    expectDelivered(second, [later], { received: false, lf: false });

    const third = await fetch(plan);
    expect(third.result.code, third.log).toBe(1); // fetchmail: 1 = no new mail
    expect(third.delivered).toEqual([]);
    expect(t.store.messages("alice")).toHaveLength(messages.length + 1);
  }, 120_000);

  it("refuses a certificate that the given CA did not sign: nothing delivered, nothing deleted", async () => {
    const t = await server();
    for (const implicit of [false, true]) {
      const fetched = await fetch({
        port: implicit ? t.tlsPort : t.port,
        implicit,
        keep: false,
        stripcr: true,
        invisible: true,
        cafile: wrongCa,
      });
      expect(fetched.result.code, fetched.log).not.toBe(0);
      expect(fetched.result.code, fetched.log).not.toBe(1); // 1 would be "no mail"
      expect(fetched.log).toMatch(/certificate/i);
      expect(fetched.delivered).toEqual([]);
    }
    expectStoreHolds(messages);
    expect(t.server.stats().updates).toBe(0);
  }, 60_000);

  it("no keep: the server deletes only what was delivered, and only at QUIT", async () => {
    const t = await server();
    const uids = t.store.messages("alice").map((m) => m.uid);
    const commits: { deleted: readonly string[]; deliveredBefore: number }[] = [];
    let newDir = "";
    t.store.failCommit = (_user, deleted) => {
      // Runs inside the server's UPDATE: record what had been delivered by then.
      commits.push({ deleted: [...deleted], deliveredBefore: readdirSync(newDir).length });
      return undefined;
    };
    // The MDA refuses message 5 (the 8-bit one); the 30 MB one (7) is over the limit.
    const refuse = "Subject: 8bit";
    const plan: FetchOptions = {
      port: t.tlsPort,
      implicit: true,
      keep: false,
      stripcr: false,
      invisible: true,
      cafile: ca,
      limit: LIMIT_SKIPS_BIG,
      refuse,
    };
    // The hook needs the Maildir path before fetchmail runs: it is the next run's.
    newDir = join(dir.path, `run-${runs + 1}`, "Maildir", "new");
    const first = await fetch(plan);
    expect(first.newDir).toBe(newDir);
    const deliveredIdx = [0, 1, 2, 3, 5];
    expectDelivered(
      first,
      deliveredIdx.map((i) => messages[i] as InteropMessage),
      { received: false, lf: false },
    );
    // fetchmail DELEs a message only after its RETR and the MDA's success; never message 5 or 7.
    for (const i of deliveredIdx) {
      const retr = first.log.indexOf(`POP3> RETR ${i + 1}\n`);
      const dele = first.log.indexOf(`POP3> DELE ${i + 1}\n`);
      expect(retr, `RETR ${i + 1}`).toBeGreaterThanOrEqual(0);
      expect(dele, `DELE ${i + 1} after RETR`).toBeGreaterThan(retr);
    }
    expect(first.log).not.toMatch(/POP3> DELE [57]\n/);
    // One UPDATE, after every deleted message had been delivered.
    expect(commits).toEqual([
      { deleted: deliveredIdx.map((i) => uids[i]), deliveredBefore: deliveredIdx.length },
    ]);
    expect(t.store.messages("alice").map((m) => m.uid)).toEqual([uids[4], uids[6]]);
    expectStoreHolds([messages[4], messages[6]] as InteropMessage[]);

    // Once the MDA takes it, message 5 goes too; the 30 MB one stays (over the limit).
    newDir = join(dir.path, `run-${runs + 1}`, "Maildir", "new");
    const { refuse: _, ...accepting } = plan;
    const second = await fetch(accepting);
    expectDelivered(second, [messages[4] as InteropMessage], { received: false, lf: false });
    expect(commits.at(-1)).toEqual({ deleted: [uids[4]], deliveredBefore: 1 });
    expect(t.store.messages("alice").map((m) => m.uid)).toEqual([uids[6]]);
  }, 120_000);
});
