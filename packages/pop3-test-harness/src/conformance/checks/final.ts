import { type CheckDefinition, defineCheck } from "../check";
import { expectErr, expectOk, fail, type RunContext } from "../context";
import { quote } from "../text";

/** RFC 1939 §3 and RFC 2449 §4: the first line of a response is at most 512 octets with CRLF. */
const MAX_FIRST_LINE = 512;

/** One short session that provokes both indicators, so neither check depends on the others. */
async function provokeBoth(ctx: RunContext): Promise<void> {
  await using probe = await ctx.connect();
  expectErr((await probe.raw("XCNF")).status, "XCNF");
  expectOk((await probe.raw("QUIT")).status, "QUIT");
}

/**
 * Checks over every status line the server sent during the run (each check's own connections
 * included), so they run last.
 */
export const FINAL_CHECKS: readonly CheckDefinition[] = [
  defineCheck(
    {
      id: "rfc1939-status-upper-case",
      title: "Status indicators are sent as +OK and -ERR in upper case",
      reference: "RFC 1939 §3",
      level: "MUST",
      phase: "final",
    },
    async (ctx) => {
      await provokeBoth(ctx);
      const bad = ctx.observed.find(
        (line) => !line.text.startsWith("+OK") && !line.text.startsWith("-ERR"),
      );
      if (bad !== undefined) fail(`the answer to ${bad.answering} was ${quote(bad.text)}`);
      return `${ctx.observed.length} status lines`;
    },
  ),

  defineCheck(
    {
      id: "rfc2449-resp-codes-well-formed",
      title: "With RESP-CODES, every response text that starts with [ is a response code",
      reference: "RFC 2449 §6.4",
      level: "MUST",
      phase: "final",
    },
    async (ctx) => {
      ctx.requireCapability("RESP-CODES");
      await provokeBoth(ctx);
      // parseStatusLine takes a well-formed [code] off the text; what is left must not start with [.
      const bad = ctx.observed.find(
        (line) => line.reply.code === undefined && line.reply.text.startsWith("["),
      );
      if (bad !== undefined) {
        fail(
          `the answer to ${bad.answering} starts with "[" but has no response code: ${quote(bad.text)}`,
        );
      }
      const codes = new Set(
        ctx.observed.flatMap((l) => (l.reply.code === undefined ? [] : [l.reply.code])),
      );
      return codes.size === 0 ? "no response codes seen" : `codes seen: ${[...codes].join(" ")}`;
    },
  ),

  defineCheck(
    {
      id: "rfc2449-response-line-length",
      title: "Every first line of a response is at most 512 octets including CRLF",
      reference: "RFC 2449 §4",
      level: "MUST",
      phase: "final",
    },
    async (ctx) => {
      await provokeBoth(ctx);
      const long = ctx.observed.find((line) => line.octets > MAX_FIRST_LINE);
      if (long !== undefined) {
        fail(`the answer to ${long.answering} is ${long.octets} octets: ${quote(long.text, 60)}`);
      }
      return `${ctx.observed.length} status lines`;
    },
  ),
];
