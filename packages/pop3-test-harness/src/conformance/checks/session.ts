import { type CheckDefinition, defineCheck } from "../check";
import { expectErr, expectOk, expectRefused, fail, said, skip } from "../context";
import { Probe } from "../probe";
import { quote } from "../text";

/** RFC 1939 §3: responses may be up to 512 characters including CRLF (RFC 2449 §4 keeps it). */
const MAX_RESPONSE_LINE = 512;

/** A keyword no POP3 extension uses. */
const UNKNOWN = "XCNF";

export const SESSION_CHECKS: readonly CheckDefinition[] = [
  defineCheck(
    {
      id: "rfc1939-greeting-positive",
      title: "The greeting is a positive response",
      reference: "RFC 1939 §4",
      level: "MUST",
    },
    async (ctx) => {
      const { greeting, greetingText } = ctx.discovery;
      if (!greeting.ok) fail(`the greeting is ${quote(greetingText)}`);
    },
  ),

  defineCheck(
    {
      id: "rfc1939-greeting-length",
      title: "The greeting is at most 512 octets including CRLF",
      reference: "RFC 1939 §3",
      level: "MUST",
    },
    async (ctx) => {
      const probe = await Probe.open(ctx.target());
      probe.destroy();
      const { octets, text } = probe.greeting;
      if (octets > MAX_RESPONSE_LINE) {
        fail(`the greeting is ${octets} octets: ${quote(text, 60)}`);
      }
      return `${octets} octets`;
    },
  ),

  defineCheck(
    {
      id: "rfc1939-unknown-command",
      title: "An unknown command gets -ERR and the session goes on (both states)",
      reference: "RFC 1939 §3",
      level: "MUST",
    },
    async (ctx) => {
      {
        await using probe = await ctx.connect();
        expectErr((await probe.raw(UNKNOWN)).status, `${UNKNOWN} before login`);
        const bye = await probe.raw("QUIT");
        expectOk(bye.status, `QUIT after ${UNKNOWN} (before login)`);
      }
      await using probe = await ctx.session();
      expectErr((await probe.raw(`${UNKNOWN} 1`)).status, `${UNKNOWN} 1 after login`);
      expectOk((await probe.raw("NOOP")).status, `NOOP after ${UNKNOWN} (after login)`);
      await probe.quit();
    },
  ),

  defineCheck(
    {
      id: "rfc1939-invalid-arguments",
      title: "Syntactically invalid commands get -ERR",
      reference: "RFC 1939 §3",
      level: "MUST",
    },
    async (ctx) => {
      // Dropped, not QUIT: nothing here may have marked a message, but be safe.
      const lines = ["LIST abc", "RETR", "TOP 1", "RETR 0", "LIST -1"];
      await expectRefused(() => ctx.session(), lines, "");
    },
  ),

  defineCheck(
    {
      id: "rfc1939-wrong-state-authorization",
      title: "TRANSACTION commands before login get -ERR",
      reference: "RFC 1939 §3",
      level: "MUST",
    },
    async (ctx) => {
      const lines = ["STAT", "LIST", "RETR 1", "DELE 1", "NOOP", "RSET", "UIDL", "TOP 1 0"];
      await expectRefused(() => ctx.connect(), lines, "before login");
    },
  ),

  defineCheck(
    {
      id: "rfc1939-wrong-state-transaction",
      title: "AUTHORIZATION commands (USER, PASS, APOP, STLS) after login get -ERR",
      reference: "RFC 1939 §3",
      level: "MUST",
    },
    async (ctx) => {
      const { user, password } = ctx.credentials;
      // STLS: RFC 2595 §4 "Only permitted in AUTHORIZATION state."
      const lines = [`USER ${user}`, `PASS ${password}`, `APOP ${user} ${"0".repeat(32)}`, "STLS"];
      await expectRefused(() => ctx.session(), lines, "after login");
      await using probe = await ctx.session();
      expectErr((await probe.raw("STLS")).status, "STLS after login");
      expectOk((await probe.raw("STAT")).status, "STAT after the refused STLS (still logged in)");
      await probe.quit();
    },
  ),

  defineCheck(
    {
      id: "rfc1939-keywords-case-insensitive",
      title: "Command keywords are case-insensitive",
      reference: "RFC 1939 §3",
      level: "MUST",
    },
    async (ctx) => {
      const { user, password } = ctx.credentials;
      await using probe = await ctx.connect();
      if (ctx.discovery.login === "USER") {
        expectOk((await probe.raw(`user ${user}`)).status, "user (lower case)");
        expectOk((await probe.raw(`Pass ${password}`)).status, "Pass (mixed case)");
      } else {
        expectOk(await ctx.login(probe), "login");
      }
      const stat = await probe.raw("stat");
      expectOk(stat.status, "stat");
      expectOk((await probe.raw("nOoP")).status, "nOoP");
      expectOk((await probe.raw("list", true)).status, "list");
      expectOk((await probe.raw("qUiT")).status, "qUiT");
    },
  ),

  defineCheck(
    {
      id: "rfc2449-command-line-255",
      title: "A command line of 255 octets (CRLF included) is accepted",
      reference: "RFC 2449 §4",
      level: "MUST",
    },
    async (ctx) => {
      if (!ctx.discovery.capa) skip("server does not support CAPA (the rule is for CAPA servers)");
      // "USER " + name + CRLF = 255 octets. A short unknown name first shows how USER answers.
      const shortName = "conformance-nobody";
      const longName = `conformance-${"x".repeat(255 - 7 - 12)}`;
      let shortOk: boolean;
      {
        await using probe = await ctx.connect();
        shortOk = (await probe.raw(`USER ${shortName}`)).status.reply.ok;
      }
      await using probe = await ctx.connect();
      const line = `USER ${longName}`;
      const answer = await probe.raw(line);
      const bye = await probe.raw("QUIT");
      if (!bye.status.reply.ok) {
        fail(
          `after a 255-octet USER line, QUIT got ${said(bye.status)}: the line was not read as one`,
        );
      }
      if (answer.status.reply.ok) return undefined;
      if (shortOk) {
        fail(`USER with a 255-octet line got ${said(answer.status)}, a short USER got +OK`);
      }
      return "USER refuses unknown names; checked only that the line was read as one command";
    },
  ),

  defineCheck(
    {
      id: "rfc1939-pass-without-user",
      title: "PASS without a preceding successful USER is refused",
      reference: "RFC 1939 §7",
      level: "MUST",
    },
    async (ctx) => {
      await using probe = await ctx.connect();
      const answer = await probe.raw(`PASS ${ctx.credentials.password}`);
      expectErr(answer.status, "PASS as the first command");
      expectErr((await probe.raw("STAT")).status, "STAT after the refused PASS");
      await probe.quit();
    },
  ),

  defineCheck(
    {
      id: "rfc1939-quit-authorization",
      title: "QUIT in AUTHORIZATION gets +OK and the server closes the connection",
      reference: "RFC 1939 §4",
      level: "MUST",
    },
    async (ctx) => {
      await using probe = await ctx.connect();
      expectOk((await probe.raw("QUIT")).status, "QUIT before login");
      if (!(await probe.waitClosed())) {
        fail(`the connection was still open ${ctx.timeoutMs} ms after +OK to QUIT`);
      }
    },
  ),

  defineCheck(
    {
      id: "rfc1939-apop-timestamp-unique",
      title: "The APOP timestamp differs on every connection",
      reference: "RFC 1939 §7",
      level: "MUST",
    },
    async (ctx) => {
      const first = ctx.discovery.greeting.apopTimestamp;
      if (first === undefined) skip("the greeting has no APOP timestamp");
      const seen = [first];
      for (let i = 0; i < 3; i++) {
        const probe = await Probe.open(ctx.target());
        probe.destroy();
        const stamp = probe.greeting.greeting.apopTimestamp;
        if (stamp === undefined) {
          fail(`a later greeting has no timestamp: ${quote(probe.greeting.text)}`);
        }
        if (seen.includes(stamp)) fail(`the timestamp ${quote(stamp)} was sent twice`);
        seen.push(stamp);
      }
    },
  ),

  defineCheck(
    {
      id: "rfc1939-apop",
      title: "APOP with the MD5 digest of timestamp and secret logs in",
      reference: "RFC 1939 §7",
      level: "MUST",
    },
    async (ctx) => {
      if (ctx.discovery.greeting.apopTimestamp === undefined) {
        skip("the greeting has no APOP timestamp");
      }
      await using probe = await ctx.connect();
      const answer = await ctx.login(probe, ctx.credentials, "APOP");
      if (!answer.reply.ok) {
        fail(`APOP got ${said(answer)} (the suite uses the password as the shared secret)`);
      }
      expectOk((await probe.raw("STAT")).status, "STAT after APOP");
      await probe.quit();
    },
  ),

  defineCheck(
    {
      id: "rfc1939-maildrop-lock",
      title: "A second session on a maildrop in use is refused",
      reference: "RFC 1939 §4",
      level: "MUST",
    },
    async (ctx) => {
      await using first = await ctx.session();
      await using second = await ctx.connect();
      const answer = await ctx.login(second);
      if (answer.reply.ok) {
        await second.quit();
        fail(`a second login while the first session was open got ${said(answer)}`);
      }
      await second.quit();
      await first.quit();
    },
  ),

  defineCheck(
    {
      id: "rfc2449-in-use-code",
      title: "A refused second session carries [IN-USE] (with RESP-CODES)",
      reference: "RFC 2449 §8.1.2",
      level: "SHOULD",
    },
    async (ctx) => {
      ctx.requireCapability("RESP-CODES");
      await using first = await ctx.session();
      await using second = await ctx.connect();
      const answer = await ctx.login(second);
      await second.quit();
      await first.quit();
      if (answer.reply.ok) {
        skip("the server admitted a second session (see rfc1939-maildrop-lock)");
      }
      if (answer.reply.code !== "IN-USE") {
        fail(`the refusal has no [IN-USE]: ${said(answer)}`);
      }
    },
  ),

  defineCheck(
    {
      id: "rfc1939-lock-per-maildrop",
      title: "The lock is per maildrop: another user can log in meanwhile",
      reference: "RFC 1939 §4",
      level: "SHOULD",
    },
    async (ctx) => {
      const other = ctx.options.secondUser;
      if (other === undefined) skip("needs secondUser");
      await using first = await ctx.session();
      await using second = await ctx.connect();
      const answer = await ctx.login(second, other);
      if (!answer.reply.ok) {
        fail(`${other.user} could not log in while ${ctx.credentials.user} was: ${said(answer)}`);
      }
      await second.quit();
      await first.quit();
    },
  ),
];
