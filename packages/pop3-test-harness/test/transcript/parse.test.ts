import { describe, expect, it } from "vitest";
import {
  decodeQuoted,
  describeMatch,
  type LineMatch,
  matchLine,
  parseTranscript,
  showBytes,
  TranscriptSyntaxError,
} from "../../src/index";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

const EVERYTHING = [
  "# a comment",
  "   # an indented comment",
  "",
  "user alice wonderland",
  "user bob builder",
  "message alice uid=u-1 <<END",
  "Subject: x",
  "",
  ".dot line",
  "END",
  'message bob "raw\\x00\\r\\n"',
  "S: +OK ...",
  "C: USER alice",
  'C> "PA"',
  "C> SS x",
  'C: "x\\ty\\r\\n\\\\\\""',
  "S: exact line",
  'S: "quoted \\"exact\\"\\x01 S: +OK ..."',
  "S: -ERR [IN-USE] ...",
  "S: -ERR [IN...",
  "S~ \\+OK \\d+ \\d+",
  "S: +OK",
  "S| body",
  "S|~ \\d+ .*",
  "S| .dot",
  "S|",
  "S| ...",
  "S.",
  "S: +OK",
  "S. ...",
  "wait 200ms",
  "wait 1.5s",
  "starttls",
  "close",
  "connect",
  "S:  two spaces",
  "expect-close",
  "C2: NOOP",
  "S2: +OK",
  "close 2",
  "connect b-1",
  "Sb-1: ...",
  "expect-close b-1",
].join("\n");

describe("parseTranscript", () => {
  it("parses every construct", () => {
    const t = parseTranscript(EVERYTHING, { name: "all.transcript" });
    expect(t.name).toBe("all.transcript");
    expect(t.users).toEqual([
      { line: 4, name: "alice", password: "wonderland" },
      { line: 5, name: "bob", password: "builder" },
    ]);
    expect(t.messages).toEqual([
      { line: 6, user: "alice", uid: "u-1", bytes: bytes("Subject: x\r\n\r\n.dot line\r\n") },
      { line: 11, user: "bob", bytes: Uint8Array.of(0x72, 0x61, 0x77, 0, 13, 10) },
    ]);
    expect(t.sessions).toEqual(["", "2", "b-1"]);
    const exact = (text: string | Uint8Array): LineMatch => ({
      type: "exact",
      bytes: typeof text === "string" ? bytes(text) : text,
    });
    const prefix = (text: string, word: boolean): LineMatch => ({
      type: "prefix",
      bytes: bytes(text),
      word,
    });
    expect(t.steps.map(({ source: _, ...step }) => step)).toEqual([
      { kind: "connect", line: 12, session: "", implicit: true },
      { kind: "expect-line", line: 12, session: "", match: prefix("+OK", true), opensBody: false },
      { kind: "send", line: 13, session: "", bytes: bytes("USER alice\r\n") },
      { kind: "send", line: 14, session: "", bytes: bytes("PA") },
      { kind: "send", line: 15, session: "", bytes: bytes("SS x") },
      { kind: "send", line: 16, session: "", bytes: bytes('x\ty\r\n\\"\r\n') },
      { kind: "expect-line", line: 17, session: "", match: exact("exact line"), opensBody: false },
      {
        kind: "expect-line",
        line: 18,
        session: "",
        match: exact(bytes('quoted "exact"\x01 S: +OK ...')),
        opensBody: false,
      },
      {
        kind: "expect-line",
        line: 19,
        session: "",
        match: prefix("-ERR [IN-USE]", true),
        opensBody: false,
      },
      {
        kind: "expect-line",
        line: 20,
        session: "",
        match: prefix("-ERR [IN", false),
        opensBody: false,
      },
      {
        kind: "expect-line",
        line: 21,
        session: "",
        match: { type: "regex", source: "\\+OK \\d+ \\d+", regex: /^(?:\+OK \d+ \d+)$/ },
        opensBody: false,
      },
      { kind: "expect-line", line: 22, session: "", match: exact("+OK"), opensBody: true },
      { kind: "expect-body-line", line: 23, session: "", match: exact("body") },
      {
        kind: "expect-body-line",
        line: 24,
        session: "",
        match: { type: "regex", source: "\\d+ .*", regex: /^(?:\d+ .*)$/ },
      },
      { kind: "expect-body-line", line: 25, session: "", match: exact(".dot") },
      { kind: "expect-body-line", line: 26, session: "", match: exact("") },
      { kind: "expect-body-line", line: 27, session: "", match: prefix("", false) },
      { kind: "expect-body-end", line: 28, session: "", skipRest: false },
      { kind: "expect-line", line: 29, session: "", match: exact("+OK"), opensBody: true },
      { kind: "expect-body-end", line: 30, session: "", skipRest: true },
      { kind: "wait", line: 31, ms: 200 },
      { kind: "wait", line: 32, ms: 1500 },
      { kind: "starttls", line: 33, session: "" },
      { kind: "close", line: 34, session: "" },
      { kind: "connect", line: 35, session: "", implicit: false },
      { kind: "expect-line", line: 36, session: "", match: exact(" two spaces"), opensBody: false },
      { kind: "expect-close", line: 37, session: "" },
      { kind: "connect", line: 38, session: "2", implicit: true },
      { kind: "send", line: 38, session: "2", bytes: bytes("NOOP\r\n") },
      { kind: "expect-line", line: 39, session: "2", match: exact("+OK"), opensBody: false },
      { kind: "close", line: 40, session: "2" },
      { kind: "connect", line: 41, session: "b-1", implicit: false },
      { kind: "expect-line", line: 42, session: "b-1", match: prefix("", false), opensBody: false },
      { kind: "expect-close", line: 43, session: "b-1" },
    ]);
    expect(t.steps[2]?.source).toBe("C: USER alice");
  });

  it("accepts CRLF files and a body that starts after client lines", () => {
    const t = parseTranscript("S: +OK\r\nC: NOOP\r\nS| a\r\nS.\r\n");
    expect(t.steps.map((s) => s.kind)).toEqual([
      "connect",
      "expect-line",
      "send",
      "expect-body-line",
      "expect-body-end",
    ]);
    expect(t.steps[1]).toMatchObject({ opensBody: true });
    expect(t.steps[3]).toMatchObject({ source: "S| a" });
  });

  it("tracks bodies per session, so sessions may interleave inside one", () => {
    const t = parseTranscript("S1: +OK\nS2: +OK\nS1| a\nS2: +OK x\nS1.");
    expect(t.steps.filter((s) => s.kind === "expect-line")).toMatchObject([
      { session: "1", opensBody: true },
      { session: "2", opensBody: false },
      { session: "2", opensBody: false },
    ]);
  });

  it("an empty heredoc is an empty message", () => {
    const t = parseTranscript("user a b\nmessage a <<X\nX\n");
    expect(t.messages[0]?.bytes).toEqual(new Uint8Array(0));
  });

  const errors: [string, string, number, RegExp][] = [
    ["an unknown line", "S: +OK\nhello there", 2, /unknown line "hello"/],
    ["a missing operator", "C USER a", 1, /needs its operator/],
    ["no space after the operator", "C:USER", 1, /put a space after `C:`/],
    ["a client regex", "C~ x", 1, /`C~` is not a client line/],
    ["S>", "S> x", 1, /`S>` is not a server line/],
    ["a body line with no status line", "S| x", 1, /must follow the status line/],
    ["a body end with no status line", "S: +OK\nS.\nS.", 3, /must follow the status line/],
    ["a status line inside a body", "S: +OK\nS| a\nS: +OK", 3, /started on line 1 is not ended/],
    ["a body never ended", "S: +OK\nS| a\nC: QUIT", 1, /never ended with `S.`/],
    ["S: . for a terminator", "S: +OK\nS| a\nS: .", 3, /end a multi-line answer with `S.`/],
    ["junk after S.", "S: +OK\nS. x", 2, /only `S.` or `S. ...`/],
    ["a bad regex", "S~ (", 1, /invalid regular expression/],
    ["an empty regex", "S~", 1, /needs a regular expression/],
    ["an unterminated quote", 'C: "abc', 1, /unterminated quoted string/],
    ["an unknown escape", 'C: "a\\qb"', 1, /unknown escape \\q/],
    ["a short hex escape", 'C: "\\x4"', 1, /two hex digits/],
    ["text after the quote", 'S: "a" b', 1, /after the closing quote/],
    ["a bad wait", "wait 5", 1, /`wait 200ms`/],
    ["connect twice", "S: +OK\nconnect", 2, /already connected/],
    ["close of an unknown session", "S: +OK\nclose 3", 2, /session 3 is not connected/],
    ["a bad label", "connect a.b", 1, /LABEL/],
    ["use after close", "S: +OK\nclose\nS: +OK", 3, /closed on line 2; write `connect`/],
    ["use of session 2 after close", "S2: +OK\nexpect-close 2\nC2: QUIT", 3, /`connect 2`/],
    ["starttls in a body", "S: +OK\nS| a\nstarttls", 3, /is not ended/],
    ["a user after the first step", "S: +OK\nuser a b", 2, /belongs in the header/],
    ["a user without password", "user a", 1, /user NAME PASSWORD/],
    ["a user twice", "user a b\nuser a c", 2, /already declared/],
    ["a message for an unknown user", "message bob <<EOF\nx\nEOF", 1, /unknown user bob/],
    ["an unterminated heredoc", "user a b\nmessage a <<EOF\nx", 2, /never ended: add a line `EOF`/],
    ["a bad uid", "user a b\nmessage a uid= <<EOF\nEOF", 2, /a uid is 1-70 characters/],
    [
      "a duplicate uid",
      'user a b\nmessage a uid=x "1"\nmessage a uid=x "2"',
      3,
      /uid x is already used/,
    ],
    ["a message without body", "user a b\nmessage a", 2, /write `message USER/],
  ];
  it.each(errors)("reports %s with its line", (_what, text, line, message) => {
    let error: unknown;
    try {
      parseTranscript(text, { name: "bad.transcript" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TranscriptSyntaxError);
    const syntax = error as TranscriptSyntaxError;
    expect(syntax.line).toBe(line);
    expect(syntax.problems[0]?.message).toMatch(message);
    expect(syntax.message).toContain(`bad.transcript:${line}: `);
    expect(syntax.message).toContain(`  ${line} | ${text.split("\n")[line - 1]}`);
  });

  it("reports every problem at once, in line order", () => {
    const text = "S: +OK\nbogus\nS~ (\nC:x\nS.";
    expect(() => parseTranscript(text)).toThrow(TranscriptSyntaxError);
    try {
      parseTranscript(text);
    } catch (error) {
      const { problems, message } = error as TranscriptSyntaxError;
      expect(problems.map((p) => p.line)).toEqual([2, 3, 4]);
      expect(message.split("\n").filter((l) => l.startsWith("transcript:"))).toHaveLength(3);
    }
  });

  it("does not read a misplaced message's heredoc as transcript lines", () => {
    try {
      parseTranscript("S: +OK\nmessage a <<EOF\nbogus line\nEOF\nS: +OK");
      expect.unreachable();
    } catch (error) {
      expect((error as TranscriptSyntaxError).problems).toEqual([
        { line: 2, message: "`message` belongs in the header, before the first session line" },
      ]);
    }
  });
});

describe("line matching", () => {
  const parsed = (line: string): LineMatch => {
    const step = parseTranscript(line).steps[1];
    if (step?.kind !== "expect-line") throw new Error("not an expect-line");
    return step.match;
  };
  const cases: [string, string, boolean][] = [
    ["S: +OK", "+OK", true],
    ["S: +OK", "+OK ", false],
    ["S: +OK", "+ok", false],
    ["S: +OK ...", "+OK", true],
    ["S: +OK ...", "+OK 2 320", true],
    ["S: +OK ...", "+OKAY", false],
    ["S: +OK ...", "-ERR", false],
    ["S: +OK...", "+OKAY", true],
    ["S: ...", "", true],
    ["S: ...", "anything", true],
    ["S~ \\+OK \\d+ \\d+", "+OK 2 320", true],
    ["S~ \\+OK \\d+ \\d+", "+OK 2 320 extra", false],
    ["S~ \\+OK \\d+ \\d+", "x+OK 2 320", false],
    ["S~ ^\\+OK \\d+ \\d+$", "+OK 2 320", true],
    ["S~ a|b", "a", true],
    ["S~ a|b", "ab", false],
    ['S: "+OK wait..."', "+OK wait...", true],
    ['S: "+OK wait..."', "+OK wait", false],
  ];
  it.each(cases)("%s on %j is %s", (line, received, expected) => {
    expect(matchLine(parsed(line), bytes(received))).toBe(expected);
  });

  it("compares bytes exactly, and regexes see invalid UTF-8 as U+FFFD", () => {
    expect(matchLine(parsed('S: "\\xff"'), Uint8Array.of(0xff))).toBe(true);
    expect(matchLine(parsed('S: "\\xff"'), bytes("\ufffd"))).toBe(false);
    expect(matchLine(parsed("S~ x\ufffdy"), Uint8Array.of(0x78, 0xff, 0x79))).toBe(true);
  });

  it("describes expectations", () => {
    expect(describeMatch(parsed("S: +OK 2 320"))).toBe('"+OK 2 320"');
    expect(describeMatch(parsed("S: +OK ..."))).toBe(
      '"+OK", alone or followed by a space and more',
    );
    expect(describeMatch(parsed("S: -ERR [IN..."))).toBe('a line starting with "-ERR [IN"');
    expect(describeMatch(parsed("S: ..."))).toBe("any line");
    expect(describeMatch(parsed("S~ \\+OK \\d+"))).toBe(
      "a line matching /\\+OK \\d+/ (whole line)",
    );
  });
});

describe("quoted strings", () => {
  it("shows bytes in a form decodeQuoted reads back, for every byte value", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(decodeQuoted(showBytes(all))).toEqual(all);
    const utf8 = bytes('é€😀 "q" \\ tab\t');
    expect(showBytes(utf8)).toBe('"é€😀 \\"q\\" \\\\ tab\\t"');
    expect(decodeQuoted(showBytes(utf8))).toEqual(utf8);
    expect(showBytes(Uint8Array.of(0xc3, 0x28, 0x0d, 0x0a, 0x00))).toBe('"\\xc3(\\r\\n\\x00"');
  });

  it("cuts long values", () => {
    expect(showBytes(new Uint8Array(1000).fill(0x61))).toBe(
      `"${"a".repeat(300)}"... (1000 octets)`,
    );
  });
});
