import { parseScanListing, parseUidListing } from "pop3-core";
import { type CheckDefinition, defineCheck } from "../check";
import { expectOk, expectRefused, fail, type RunContext, said, skip } from "../context";
import { expectedTop, FIXTURES, fixtureIndex } from "../fixtures";
import { Probe } from "../probe";
import { firstDifference, quote, sameBytes } from "../text";

/** In read-only mode, messages larger than this are not fetched. */
const MAX_FETCH = 1024 * 1024;
/** In read-only mode, at most this many messages are fetched per check. */
const MAX_MESSAGES = 10;

const CRLF_CRLF = Uint8Array.of(13, 10, 13, 10);

function indexOfBytes(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function countLines(bytes: Uint8Array): number {
  let lines = 0;
  for (const byte of bytes) if (byte === 10) lines++;
  return lines;
}

/** A logged-in session: on the seeded mailbox when the suite seeds, else on the mailbox as it is. */
async function anySession(ctx: RunContext): Promise<Probe> {
  return ctx.canSeed ? ctx.seededSession() : ctx.session();
}

/** Messages small enough to fetch in read-only mode; skips when there are none. */
function fetchable(
  listing: readonly { msg: number; size: number }[],
): { msg: number; size: number }[] {
  if (listing.length === 0) skip("the mailbox is empty (needs seeding or mail)");
  const small = listing.filter((l) => l.size <= MAX_FETCH).slice(0, MAX_MESSAGES);
  if (small.length === 0) skip("every message is larger than 1 MiB");
  return small;
}

/** Deletions are only sent to a mailbox the suite seeded, and such sessions end without QUIT. */
async function seededWithUids(
  ctx: RunContext,
): Promise<{ probe: Probe; uids: Map<number, string> | undefined }> {
  const probe = await ctx.seededSession();
  if (!ctx.has("UIDL")) return { probe, uids: undefined };
  const listing = await ctx.uidl(probe);
  return { probe, uids: new Map(listing.map((l) => [l.msg, l.uid])) };
}

export const MAILBOX_CHECKS: readonly CheckDefinition[] = [
  defineCheck(
    {
      id: "rfc1939-list-empty",
      title: "LIST on an empty maildrop is +OK with an empty listing (STAT +OK 0 0)",
      reference: "RFC 1939 §5",
      level: "MUST",
      phase: "empty",
    },
    async (ctx) => {
      if (!ctx.canSeed && ctx.seeded === undefined) {
        // Read-only: possible only if the mailbox happens to be empty.
        await using probe = await ctx.session();
        const { count } = await ctx.stat(probe);
        if (count > 0) skip("needs seeding (the suite empties the mailbox) or an empty mailbox");
      }
      if (ctx.seedError !== undefined) fail(`emptying the mailbox failed: ${ctx.seedError}`);
      await using probe = await ctx.session();
      const stat = await ctx.stat(probe);
      if (stat.count !== 0 || stat.size !== 0)
        fail(`STAT on the empty maildrop: ${said(stat.status)}`);
      const answer = await probe.request({ name: "LIST" });
      expectOk(answer.status, "LIST on the empty maildrop");
      const lines = Probe.lines(answer.body as Uint8Array);
      if (lines.length > 0) fail(`LIST on the empty maildrop listed ${quote(lines.join(" | "))}`);
      if (ctx.has("UIDL")) {
        const uidl = await probe.request({ name: "UIDL" });
        expectOk(uidl.status, "UIDL on the empty maildrop");
        const uids = Probe.lines(uidl.body as Uint8Array);
        if (uids.length > 0) fail(`UIDL on the empty maildrop listed ${quote(uids.join(" | "))}`);
      }
      await probe.quit();
    },
  ),

  defineCheck(
    {
      id: "rfc1939-stat-list-consistent",
      title: "STAT and LIST use the drop/scan listing formats and agree",
      reference: "RFC 1939 §5",
      level: "MUST",
    },
    async (ctx) => {
      await using probe = await anySession(ctx);
      const stat = await ctx.stat(probe);
      const listing = await ctx.list(probe);
      if (listing.length !== stat.count) {
        fail(`STAT says ${stat.count} messages, LIST lists ${listing.length}`);
      }
      const total = listing.reduce((sum, l) => sum + l.size, 0);
      if (total !== stat.size) fail(`STAT says ${stat.size} octets, LIST sizes add up to ${total}`);
      listing.forEach((l, i) => {
        if (l.msg !== i + 1) fail(`LIST line ${i + 1} is for message ${l.msg}`);
      });
      for (const l of listing.slice(0, 5)) {
        const single = await probe.request({ name: "LIST", msg: l.msg });
        expectOk(single.status, `LIST ${l.msg}`);
        let parsed: { msg: number; size: number };
        try {
          parsed = parseScanListing(single.status.reply.text);
        } catch {
          fail(`LIST ${l.msg} is not a scan listing: ${said(single.status)}`);
        }
        if (parsed.msg !== l.msg || parsed.size !== l.size) {
          fail(`LIST ${l.msg} says ${said(single.status)}, LIST said ${l.msg} ${l.size}`);
        }
      }
      await probe.quit();
    },
  ),

  defineCheck(
    {
      id: "rfc1939-no-such-message",
      title: "Commands on a message number past the end get -ERR",
      reference: "RFC 1939 §5",
      level: "MUST",
    },
    async (ctx) => {
      let count: number;
      {
        await using probe = await anySession(ctx);
        count = (await ctx.stat(probe)).count;
      }
      const n = count + 1;
      const lines = [`LIST ${n}`, `RETR ${n}`, `DELE ${n}`];
      if (ctx.has("TOP")) lines.push(`TOP ${n} 0`);
      if (ctx.has("UIDL")) lines.push(`UIDL ${n}`);
      // Dropped without QUIT: a wrongly accepted DELE must not be committed.
      await expectRefused(() => ctx.session(), lines, `(${count} messages)`);
    },
  ),

  defineCheck(
    {
      id: "rfc1939-size-matches-retr",
      title: "LIST sizes equal the octets RETR sends (CRLF, without stuffing)",
      reference: "RFC 1939 §11",
      level: "MUST",
    },
    async (ctx) => {
      await using probe = await anySession(ctx);
      const listing = fetchable(await ctx.list(probe));
      for (const { msg, size } of listing) {
        const body = await ctx.retr(probe, msg);
        if (body.length !== size) {
          fail(`message ${msg}: LIST says ${size} octets, RETR sent ${body.length}`);
        }
      }
      await probe.quit();
      return `${listing.length} messages`;
    },
  ),

  defineCheck(
    {
      id: "rfc1939-retr-dot-stuffing",
      title: "RETR byte-stuffs lines that start with a dot (message comes back exactly)",
      reference: "RFC 1939 §3",
      level: "MUST",
      seeded: true,
    },
    async (ctx) => {
      await using probe = await ctx.seededSession();
      for (const role of ["dots", "plain"] as const) {
        const index = fixtureIndex(role);
        const expected = (FIXTURES[index] as (typeof FIXTURES)[number]).bytes;
        const body = await ctx.retr(probe, index + 1);
        if (!sameBytes(body, expected)) {
          fail(`RETR ${index + 1} ${firstDifference(body, expected)}`);
        }
      }
      await probe.quit();
    },
  ),

  defineCheck(
    {
      id: "rfc1939-top-dot-stuffing",
      title: "TOP byte-stuffs lines that start with a dot",
      reference: "RFC 1939 §7",
      level: "MUST",
      seeded: true,
    },
    async (ctx) => {
      ctx.requireCapability("TOP");
      await using probe = await ctx.seededSession();
      const index = fixtureIndex("dots");
      const fixture = FIXTURES[index] as (typeof FIXTURES)[number];
      const answer = await probe.request({ name: "TOP", msg: index + 1, lines: 3 });
      expectOk(answer.status, `TOP ${index + 1} 3`);
      const expected = expectedTop(fixture, 3);
      const body = answer.body as Uint8Array;
      if (!sameBytes(body, expected)) fail(`TOP ${index + 1} 3 ${firstDifference(body, expected)}`);
      await probe.quit();
    },
  ),

  defineCheck(
    {
      id: "rfc1939-top-zero",
      title: "TOP n 0 sends the headers and the blank line, nothing of the body",
      reference: "RFC 1939 §7",
      level: "MUST",
    },
    async (ctx) => {
      ctx.requireCapability("TOP");
      await using probe = await anySession(ctx);
      let msg: number;
      let expected: Uint8Array;
      if (ctx.canSeed) {
        const index = fixtureIndex("plain");
        msg = index + 1;
        expected = expectedTop(FIXTURES[index] as (typeof FIXTURES)[number], 0);
      } else {
        const found = await withHeaderAndBody(ctx, probe);
        msg = found.msg;
        expected = found.bytes.subarray(0, indexOfBytes(found.bytes, CRLF_CRLF) + 4);
      }
      const answer = await probe.request({ name: "TOP", msg, lines: 0 });
      expectOk(answer.status, `TOP ${msg} 0`);
      const body = answer.body as Uint8Array;
      if (!sameBytes(body, expected)) fail(`TOP ${msg} 0 ${firstDifference(body, expected)}`);
      await probe.quit();
    },
  ),

  defineCheck(
    {
      id: "rfc1939-top-beyond-body",
      title: "TOP with more lines than the body sends the entire message",
      reference: "RFC 1939 §7",
      level: "MUST",
    },
    async (ctx) => {
      ctx.requireCapability("TOP");
      await using probe = await anySession(ctx);
      let msg: number;
      let expected: Uint8Array;
      if (ctx.canSeed) {
        const index = fixtureIndex("plain");
        msg = index + 1;
        expected = (FIXTURES[index] as (typeof FIXTURES)[number]).bytes;
      } else {
        const found = await withHeaderAndBody(ctx, probe);
        msg = found.msg;
        expected = found.bytes;
      }
      const lines = countLines(expected) + 10;
      const answer = await probe.request({ name: "TOP", msg, lines });
      expectOk(answer.status, `TOP ${msg} ${lines}`);
      const body = answer.body as Uint8Array;
      if (!sameBytes(body, expected)) {
        fail(`TOP ${msg} ${lines} ${firstDifference(body, expected)}`);
      }
      await probe.quit();
    },
  ),

  defineCheck(
    {
      id: "rfc1939-uidl-format",
      title: "UIDL listings are msg SP 1-70 characters of 0x21-0x7E, and UIDL n agrees",
      reference: "RFC 1939 §7",
      level: "MUST",
    },
    async (ctx) => {
      ctx.requireCapability("UIDL");
      await using probe = await anySession(ctx);
      const listing = await ctx.list(probe);
      const uids = await ctx.uidl(probe);
      if (listing.length === 0) skip("the mailbox is empty (needs seeding or mail)");
      if (uids.length !== listing.length) {
        fail(`LIST lists ${listing.length} messages, UIDL ${uids.length}`);
      }
      uids.forEach((u, i) => {
        if (u.msg !== i + 1) fail(`UIDL line ${i + 1} is for message ${u.msg}`);
      });
      const bySize = new Map<string, number>();
      for (const u of uids) {
        const size = listing[u.msg - 1]?.size ?? -1;
        const earlier = bySize.get(u.uid);
        // Identical copies may share a unique-id; messages of different sizes may not.
        if (earlier !== undefined && (ctx.canSeed || earlier !== size)) {
          fail(`two different messages share the unique-id ${quote(u.uid)}`);
        }
        bySize.set(u.uid, size);
      }
      for (const u of uids.slice(0, 5)) {
        const single = await probe.request({ name: "UIDL", msg: u.msg });
        expectOk(single.status, `UIDL ${u.msg}`);
        let parsed: { msg: number; uid: string };
        try {
          parsed = parseUidListing(single.status.reply.text);
        } catch {
          fail(`UIDL ${u.msg} is not a unique-id listing: ${said(single.status)}`);
        }
        if (parsed.msg !== u.msg || parsed.uid !== u.uid) {
          fail(`UIDL ${u.msg} says ${said(single.status)}, UIDL said ${quote(u.uid)}`);
        }
      }
      await probe.quit();
    },
  ),

  defineCheck(
    {
      id: "rfc1939-uidl-stable",
      title: "Unique-ids persist across sessions, also when a session ends without UPDATE",
      reference: "RFC 1939 §7",
      level: "MUST",
    },
    async (ctx) => {
      ctx.requireCapability("UIDL");
      const read = async (probe: Probe): Promise<string> =>
        (await ctx.uidl(probe)).map((u) => `${u.msg} ${u.uid}`).join(", ");
      let first: string;
      {
        // Ends without QUIT: no UPDATE.
        await using probe = await anySession(ctx);
        first = await read(probe);
      }
      if (first === "") skip("the mailbox is empty (needs seeding or mail)");
      let second: string;
      {
        await using probe = await ctx.session();
        second = await read(probe);
        await probe.quit();
      }
      await using probe = await ctx.session();
      const third = await read(probe);
      await probe.quit();
      if (second !== first)
        fail(`UIDL changed after a dropped session: ${quote(first, 40)} → ${quote(second, 40)}`);
      if (third !== first)
        fail(`UIDL changed after QUIT: ${quote(first, 40)} → ${quote(third, 40)}`);
    },
  ),

  defineCheck(
    {
      id: "rfc1939-dele-numbering",
      title: "Message numbers stay fixed after DELE",
      reference: "RFC 1939 §4",
      level: "MUST",
      seeded: true,
    },
    async (ctx) => {
      const { probe, uids } = await seededWithUids(ctx);
      await using _ = probe;
      const sizes = ctx.seeded?.sizes ?? [];
      expectOk((await probe.request({ name: "DELE", msg: 1 })).status, "DELE 1");
      for (let msg = 2; msg <= sizes.length; msg++) {
        const answer = await probe.request({ name: "LIST", msg });
        expectOk(answer.status, `LIST ${msg} after DELE 1`);
        const expected = `${msg} ${sizes[msg - 1]}`;
        const parsed = parseScanListing(answer.status.reply.text);
        if (parsed.msg !== msg || parsed.size !== sizes[msg - 1]) {
          fail(
            `after DELE 1, LIST ${msg} says ${said(answer.status)}, expected ${quote(expected)}`,
          );
        }
        const uid = uids?.get(msg);
        if (uid !== undefined) {
          const single = await probe.request({ name: "UIDL", msg });
          expectOk(single.status, `UIDL ${msg} after DELE 1`);
          if (parseUidListing(single.status.reply.text).uid !== uid) {
            fail(`after DELE 1, UIDL ${msg} says ${said(single.status)}, before ${quote(uid)}`);
          }
        }
      }
      const index = fixtureIndex("short");
      const body = await ctx.retr(probe, index + 1);
      const expected = (FIXTURES[index] as (typeof FIXTURES)[number]).bytes;
      if (!sameBytes(body, expected)) {
        fail(`after DELE 1, RETR ${index + 1} ${firstDifference(body, expected)}`);
      }
      // Dropped without QUIT: nothing is removed.
    },
  ),

  defineCheck(
    {
      id: "rfc1939-deleted-message-refused",
      title: "RETR, LIST, UIDL, TOP and DELE of a deleted message get -ERR",
      reference: "RFC 1939 §5",
      level: "MUST",
      seeded: true,
    },
    async (ctx) => {
      const lines = ["RETR 2", "LIST 2"];
      if (ctx.has("UIDL")) lines.push("UIDL 2");
      if (ctx.has("TOP")) lines.push("TOP 2 0");
      lines.push("DELE 2");
      const open = async (): Promise<Probe> => {
        const probe = await ctx.seededSession();
        const dele = await probe.request({ name: "DELE", msg: 2 });
        if (!dele.status.reply.ok) probe.destroy();
        expectOk(dele.status, "DELE 2");
        return probe;
      };
      // Each session ends without QUIT: nothing is removed.
      await expectRefused(open, lines, "after DELE 2");
    },
  ),

  defineCheck(
    {
      id: "rfc1939-deleted-message-hidden",
      title: "A deleted message is not counted by STAT nor listed by LIST and UIDL",
      reference: "RFC 1939 §5",
      level: "MUST",
      seeded: true,
    },
    async (ctx) => {
      await using probe = await ctx.seededSession();
      const sizes = ctx.seeded?.sizes ?? [];
      expectOk((await probe.request({ name: "DELE", msg: 2 })).status, "DELE 2");
      const stat = await ctx.stat(probe);
      const total = sizes.reduce((a, b) => a + b, 0) - (sizes[1] ?? 0);
      if (stat.count !== sizes.length - 1 || stat.size !== total) {
        fail(`after DELE 2, STAT says ${said(stat.status)}, expected ${sizes.length - 1} ${total}`);
      }
      const listed = (await ctx.list(probe)).map((l) => l.msg);
      const expected = sizes.map((_, i) => i + 1).filter((msg) => msg !== 2);
      if (listed.join(",") !== expected.join(",")) {
        fail(
          `after DELE 2, LIST lists messages ${listed.join(",")}, expected ${expected.join(",")}`,
        );
      }
      if (ctx.has("UIDL")) {
        const uids = (await ctx.uidl(probe)).map((u) => u.msg);
        if (uids.join(",") !== expected.join(",")) {
          fail(
            `after DELE 2, UIDL lists messages ${uids.join(",")}, expected ${expected.join(",")}`,
          );
        }
      }
    },
  ),

  defineCheck(
    {
      id: "rfc1939-rset-unmarks",
      title: "RSET unmarks deleted messages (and QUIT afterwards removes nothing)",
      reference: "RFC 1939 §5",
      level: "MUST",
      seeded: true,
    },
    async (ctx) => {
      await using probe = await ctx.seededSession();
      const sizes = ctx.seeded?.sizes ?? [];
      expectOk((await probe.request({ name: "DELE", msg: 1 })).status, "DELE 1");
      expectOk((await probe.request({ name: "DELE", msg: 3 })).status, "DELE 3");
      expectOk((await probe.request({ name: "RSET" })).status, "RSET");
      const stat = await ctx.stat(probe);
      if (stat.count !== sizes.length) {
        fail(
          `after DELE 1, DELE 3, RSET: STAT says ${said(stat.status)}, expected ${sizes.length} messages`,
        );
      }
      expectOk((await probe.request({ name: "LIST", msg: 3 })).status, "LIST 3 after RSET");
      const body = await ctx.retr(probe, 1);
      if (body.length !== sizes[0])
        fail(`after RSET, RETR 1 sent ${body.length} octets, LIST said ${sizes[0]}`);
      // QUIT after RSET enters UPDATE with nothing marked: nothing may be removed.
      expectOk((await probe.raw("QUIT")).status, "QUIT after RSET");
      await probe.waitClosed();
      await using next = await ctx.session();
      const now = (await ctx.list(next)).map((l) => l.size).join(",");
      if (now !== sizes.join(","))
        fail(`after DELE, RSET and QUIT, LIST sizes are [${now}], were [${sizes.join(",")}]`);
      await next.quit();
    },
  ),

  defineCheck(
    {
      id: "rfc1939-drop-no-update",
      title: "A session that ends without QUIT removes nothing",
      reference: "RFC 1939 §6",
      level: "MUST",
      seeded: true,
    },
    async (ctx) => {
      const { probe, uids } = await seededWithUids(ctx);
      const sizes = ctx.seeded?.sizes ?? [];
      try {
        for (let msg = 1; msg <= sizes.length; msg++) {
          expectOk((await probe.request({ name: "DELE", msg })).status, `DELE ${msg}`);
        }
      } finally {
        probe.destroy();
      }
      await using next = await ctx.session();
      const listing = await ctx.list(next);
      const now = listing.map((l) => l.size).join(",");
      if (now !== sizes.join(",")) {
        fail(
          `after DELE of all and a dropped connection, LIST sizes are [${now}], were [${sizes.join(",")}]`,
        );
      }
      if (uids !== undefined) {
        const after = await ctx.uidl(next);
        for (const u of after) {
          if (uids.get(u.msg) !== u.uid)
            fail(`message ${u.msg} changed its unique-id to ${quote(u.uid)}`);
        }
      }
      await next.quit();
    },
  ),

  defineCheck(
    {
      id: "rfc1939-quit-removes",
      title: "QUIT after DELE removes exactly the deleted messages",
      reference: "RFC 1939 §6",
      level: "MUST",
      seeded: true,
    },
    async (ctx) => {
      const { probe, uids } = await seededWithUids(ctx);
      const sizes = ctx.seeded?.sizes ?? [];
      const victim = fixtureIndex("sacrificial") + 1;
      try {
        expectOk((await probe.request({ name: "DELE", msg: victim })).status, `DELE ${victim}`);
        const bye = await probe.raw("QUIT");
        expectOk(bye.status, `QUIT after DELE ${victim}`);
        if (!(await probe.waitClosed())) fail("the connection stayed open after +OK to QUIT");
      } finally {
        probe.destroy();
      }
      await using next = await ctx.session();
      const listing = await ctx.list(next);
      const expected = sizes.filter((_, i) => i + 1 !== victim);
      const now = listing.map((l) => l.size);
      if (now.join(",") !== expected.join(",")) {
        fail(
          `after DELE ${victim} and QUIT, LIST sizes are [${now.join(",")}], expected [${expected.join(",")}]`,
        );
      }
      if (uids !== undefined) {
        const after = (await ctx.uidl(next)).map((u) => u.uid);
        const wanted = [...uids.entries()].filter(([msg]) => msg !== victim).map(([, uid]) => uid);
        if (after.join(" ") !== wanted.join(" ")) {
          fail(
            `after QUIT the unique-ids are ${quote(after.join(" "), 60)}, expected ${quote(wanted.join(" "), 60)}`,
          );
        }
      }
      await next.quit();
    },
  ),
];

/** Read-only: the first fetchable message that has a header, a blank line and a body. */
async function withHeaderAndBody(
  ctx: RunContext,
  probe: Probe,
): Promise<{ msg: number; bytes: Uint8Array }> {
  for (const { msg } of fetchable(await ctx.list(probe))) {
    const bytes = await ctx.retr(probe, msg);
    const split = indexOfBytes(bytes, CRLF_CRLF);
    if (split !== -1 && split + 4 < bytes.length) return { msg, bytes };
  }
  skip("no message with a header, a blank line and a body");
}
