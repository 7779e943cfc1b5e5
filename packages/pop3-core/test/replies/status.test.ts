import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { parseDropListing, parseScanListing } from "../../src/parse/listing";
import { findApopTimestamp, parseGreeting, parseStatusLine } from "../../src/parse/status";
import { serializeGreeting, serializeStatusLine } from "../../src/serialize/status";
import { RESPONSE_CODES } from "../../src/types/reply";
import {
  arbApopTimestamp,
  arbGreeting,
  arbReplyNoise,
  arbResponseCode,
  arbStatusReply,
} from "./arbitraries";
import {
  expectBadArgument,
  expectProtocolError,
  expectValueOrProtocolError,
  octets,
} from "./helpers";

describe("parseStatusLine", () => {
  it("reads the status lines of the RFC 1939 §10 example session", () => {
    expect(parseStatusLine("+OK mrose's maildrop has 2 messages (320 octets)")).toStrictEqual({
      ok: true,
      text: "mrose's maildrop has 2 messages (320 octets)",
    });
    expect(parseStatusLine("+OK 2 messages (320 octets)")).toStrictEqual({
      ok: true,
      text: "2 messages (320 octets)",
    });
    expect(parseStatusLine("+OK 120 octets")).toStrictEqual({ ok: true, text: "120 octets" });
    expect(parseStatusLine("+OK message 1 deleted")).toStrictEqual({
      ok: true,
      text: "message 1 deleted",
    });
    expect(parseStatusLine("+OK dewey POP3 server signing off (maildrop empty)")).toStrictEqual({
      ok: true,
      text: "dewey POP3 server signing off (maildrop empty)",
    });
    expect(parseStatusLine("-ERR no such message, only 2 messages in maildrop")).toStrictEqual({
      ok: false,
      text: "no such message, only 2 messages in maildrop",
    });
  });

  it("hands the STAT and LIST n texts to the listing parsers (RFC 1939 §5)", () => {
    expect(parseDropListing(parseStatusLine("+OK 2 320").text)).toStrictEqual({
      count: 2,
      size: 320,
    });
    expect(parseScanListing(parseStatusLine("+OK 2 200").text)).toStrictEqual({
      msg: 2,
      size: 200,
    });
  });

  it("accepts a bare status and an empty text", () => {
    expect(parseStatusLine("+OK")).toStrictEqual({ ok: true, text: "" });
    expect(parseStatusLine("-ERR")).toStrictEqual({ ok: false, text: "" });
    expect(parseStatusLine("+OK ")).toStrictEqual({ ok: true, text: "" });
  });

  it("keeps the text verbatim after exactly one space", () => {
    expect(parseStatusLine("+OK  two spaces ")).toStrictEqual({ ok: true, text: " two spaces " });
    expect(parseStatusLine("-ERR \tx")).toStrictEqual({ ok: false, text: "\tx" });
  });

  it("accepts the status indicator in any case", () => {
    expect(parseStatusLine("+ok fine")).toStrictEqual({ ok: true, text: "fine" });
    expect(parseStatusLine("+Ok")).toStrictEqual({ ok: true, text: "" });
    expect(parseStatusLine("-err nope")).toStrictEqual({ ok: false, text: "nope" });
    expect(parseStatusLine("-ErR [SYS/TEMP] x")).toStrictEqual({
      ok: false,
      code: "SYS/TEMP",
      text: "x",
    });
  });

  it("reads the RFC 2449, 3206 and 6856 response codes", () => {
    expect(parseStatusLine("-ERR [IN-USE] Do you have another POP session running?")).toStrictEqual(
      { ok: false, code: RESPONSE_CODES.IN_USE, text: "Do you have another POP session running?" },
    );
    expect(parseStatusLine("-ERR [LOGIN-DELAY] wait a little longer")).toStrictEqual({
      ok: false,
      code: RESPONSE_CODES.LOGIN_DELAY,
      text: "wait a little longer",
    });
    expect(parseStatusLine("-ERR [SYS/PERM] Your account is locked")).toStrictEqual({
      ok: false,
      code: RESPONSE_CODES.SYS_PERM,
      text: "Your account is locked",
    });
    expect(parseStatusLine("-ERR [AUTH] Authentication failed.")).toStrictEqual({
      ok: false,
      code: RESPONSE_CODES.AUTH,
      text: "Authentication failed.",
    });
    expect(parseStatusLine("-ERR [UTF8] Message is not valid UTF-8")).toStrictEqual({
      ok: false,
      code: RESPONSE_CODES.UTF8,
      text: "Message is not valid UTF-8",
    });
    expect(parseStatusLine("+OK [A/B/C] three levels")).toStrictEqual({
      ok: true,
      code: "A/B/C",
      text: "three levels",
    });
  });

  it("handles a code without text, without a space, or with more spaces", () => {
    expect(parseStatusLine("-ERR [SYS/TEMP]")).toStrictEqual({
      ok: false,
      code: "SYS/TEMP",
      text: "",
    });
    expect(parseStatusLine("-ERR [SYS/TEMP] ")).toStrictEqual({
      ok: false,
      code: "SYS/TEMP",
      text: "",
    });
    expect(parseStatusLine("-ERR [SYS/TEMP]glued")).toStrictEqual({
      ok: false,
      code: "SYS/TEMP",
      text: "glued",
    });
    expect(parseStatusLine("-ERR [AUTH]  indented")).toStrictEqual({
      ok: false,
      code: "AUTH",
      text: " indented",
    });
    expect(parseStatusLine("+OK [X] [Y] z")).toStrictEqual({ ok: true, code: "X", text: "[Y] z" });
  });

  it("takes something that is not a well-formed code for text", () => {
    for (const text of [
      "[ no closing bracket",
      "[] empty",
      "[A//B] empty level",
      "[A/] trailing slash",
      "[/A] leading slash",
      "[ A] space",
      "[A B] space",
      "[Ärger] non-ASCII",
      "[A\tB] tab",
      "x [SYS/TEMP] not first",
    ]) {
      expect(parseStatusLine(`-ERR ${text}`)).toStrictEqual({ ok: false, text });
    }
    expect(parseStatusLine("-ERR  [AUTH] after two spaces")).toStrictEqual({
      ok: false,
      text: " [AUTH] after two spaces",
    });
  });

  it("rejects lines that are not status lines", () => {
    for (const line of [
      "",
      "OK",
      "ERR",
      "+",
      "-",
      "+O",
      "+OKAY",
      "-ERROR",
      "+OK:",
      "+OK\tx",
      " +OK",
      "* OK",
      "2 320",
      "+ abc",
      "+ ",
    ]) {
      expectProtocolError(() => parseStatusLine(line));
    }
  });

  it("says when a SASL continuation arrives instead", () => {
    expect(expectProtocolError(() => parseStatusLine("+ PDE4OTY+"))).toMatch(/continuation/);
    expect(expectProtocolError(() => parseStatusLine("+"))).toMatch(/continuation/);
    expect(expectProtocolError(() => parseStatusLine("OK"))).not.toMatch(/continuation/);
  });

  it("rejects CR, LF and NUL inside the line", () => {
    expectProtocolError(() => parseStatusLine("+OK a\rb"));
    expectProtocolError(() => parseStatusLine("+OK a\nb"));
    expectProtocolError(() => parseStatusLine("-ERR a\0b"));
    expectProtocolError(() => parseStatusLine("+OK\r"));
  });

  it("quotes at most the first 80 characters of the line", () => {
    const line = `OK ${"x".repeat(500)}`;
    const message = expectProtocolError(() => parseStatusLine(line));
    expect(message).toContain(line.slice(0, 80));
    expect(message).not.toContain(line.slice(0, 81));
    expect(message.length).toBeLessThan(200);
    const escaped = expectProtocolError(() => parseStatusLine("+OK \u0007\nbell"));
    expect(escaped).toContain("\\n");
    expect(escaped).not.toContain("\n");
  });

  test.prop([arbReplyNoise])("never throws anything but RemoteProtocolError", (line) => {
    expectValueOrProtocolError(() => parseStatusLine(line));
    expectValueOrProtocolError(() => parseGreeting(line));
  });

  test.prop([fc.string({ unit: "binary", maxLength: 60 }).filter((s) => !/[\r\n\0]/.test(s))])(
    "accepts +OK and -ERR followed by one space and anything",
    (text) => {
      expect(parseStatusLine(`+OK ${text}`).ok).toBe(true);
      expect(parseStatusLine(`-ERR ${text}`).ok).toBe(false);
    },
  );
});

describe("serializeStatusLine", () => {
  it("writes status, code and text", () => {
    expect(serializeStatusLine({ ok: true, text: "" })).toBe("+OK");
    expect(serializeStatusLine({ ok: false, text: "" })).toBe("-ERR");
    expect(serializeStatusLine({ ok: true, text: "2 320" })).toBe("+OK 2 320");
    expect(serializeStatusLine({ ok: false, code: "SYS/TEMP", text: "try later" })).toBe(
      "-ERR [SYS/TEMP] try later",
    );
    expect(serializeStatusLine({ ok: false, code: "IN-USE", text: "" })).toBe("-ERR [IN-USE]");
    expect(serializeStatusLine({ ok: true, text: " lead" })).toBe("+OK  lead");
    expect(serializeStatusLine({ ok: true, text: "Grüße ✉" })).toBe("+OK Grüße ✉");
  });

  it("writes a code even before text that looks like another code", () => {
    expect(serializeStatusLine({ ok: false, code: "AUTH", text: "[X] y" })).toBe(
      "-ERR [AUTH] [X] y",
    );
  });

  it("rejects CR, LF, NUL and lone surrogates in the text", () => {
    for (const text of ["a\r\nb", "a\rb", "a\nb", "a\0b", "\ud800", "x\udfffy"]) {
      expectBadArgument(() => serializeStatusLine({ ok: true, text }));
    }
  });

  it("rejects invalid response codes", () => {
    for (const code of ["", "A//B", "A/", "/A", "A]", "A B", "Ä", "A\r\nB", "A\u007f", "A\tB"]) {
      expectBadArgument(() => serializeStatusLine({ ok: false, code, text: "x" }));
    }
  });

  it("rejects text without a code that would be read as one", () => {
    expectBadArgument(() => serializeStatusLine({ ok: false, text: "[SYS/TEMP] later" }));
    expectBadArgument(() => serializeStatusLine({ ok: false, text: "[X]" }));
    expect(serializeStatusLine({ ok: false, text: "[not a code" })).toBe("-ERR [not a code");
    expect(serializeStatusLine({ ok: false, text: "[]" })).toBe("-ERR []");
  });

  it("limits the line to 512 octets including CRLF, counted in UTF-8", () => {
    expect(serializeStatusLine({ ok: true, text: "x".repeat(506) })).toHaveLength(510);
    expectBadArgument(() => serializeStatusLine({ ok: true, text: "x".repeat(507) }));
    // 2 octets a character: 4 + 2 * 253 = 510 octets, but only 257 UTF-16 code units.
    expect(octets(serializeStatusLine({ ok: true, text: "é".repeat(253) }))).toBe(510);
    expectBadArgument(() => serializeStatusLine({ ok: true, text: "é".repeat(254) }));
    // 4 octets and 2 code units a character.
    expect(octets(serializeStatusLine({ ok: true, text: `${"😀".repeat(126)}xx` }))).toBe(510);
    expectBadArgument(() => serializeStatusLine({ ok: true, text: `${"😀".repeat(126)}xxx` }));
    expectBadArgument(() =>
      serializeStatusLine({ ok: false, code: "SYS/TEMP", text: "x".repeat(495) }),
    );
  });

  test.prop([arbStatusReply])("parseStatusLine(serializeStatusLine(x)) equals x", (reply) => {
    const line = serializeStatusLine(reply);
    expect(line).not.toMatch(/[\r\n\0]/);
    expect(octets(line)).toBeLessThanOrEqual(510);
    expect(parseStatusLine(line)).toStrictEqual(reply);
  });

  test.prop([arbResponseCode, fc.boolean()])("writes every valid code in brackets", (code, ok) => {
    expect(serializeStatusLine({ ok, code, text: "t" })).toBe(`${ok ? "+OK" : "-ERR"} [${code}] t`);
  });
});

describe("parseGreeting", () => {
  it("finds the APOP timestamp of the RFC 1939 §10 greeting", () => {
    expect(parseGreeting("+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>")).toStrictEqual({
      ok: true,
      text: "POP3 server ready <1896.697170952@dbc.mtview.ca.us>",
      apopTimestamp: "<1896.697170952@dbc.mtview.ca.us>",
    });
  });

  it("reads Dovecot's greeting, which has no timestamp", () => {
    expect(parseGreeting("+OK Dovecot (Debian) ready.")).toStrictEqual({
      ok: true,
      text: "Dovecot (Debian) ready.",
    });
  });

  it("takes the first <...> token shaped like a msg-id", () => {
    const cases: [string, string | undefined][] = [
      ["+OK <1.2@host>", "<1.2@host>"],
      ["+OK ready<1.2@host>.", "<1.2@host>"],
      ["+OK <abc> <a b@c> <@host> <local@> <1@h> <2@h>", "<1@h>"],
      ["+OK <x<1@h>", "<1@h>"],
      ["+OK <a@b@c>", "<a@b@c>"],
      ["+OK <1@h", undefined],
      ["+OK 1@h>", undefined],
      ["+OK <>", undefined],
      ["+OK <ä@h>", undefined],
      ["+OK <a\t@h>", undefined],
      ["+OK ready", undefined],
    ];
    for (const [line, timestamp] of cases) {
      expect(parseGreeting(line).apopTimestamp, line).toBe(timestamp);
      expect("apopTimestamp" in parseGreeting(line), line).toBe(timestamp !== undefined);
    }
  });

  it("accepts an -ERR greeting with a code", () => {
    expect(parseGreeting("-ERR [SYS/TEMP] busy, try later <7@h>")).toStrictEqual({
      ok: false,
      code: "SYS/TEMP",
      text: "busy, try later <7@h>",
      apopTimestamp: "<7@h>",
    });
  });

  it("rejects a line that is not a status line", () => {
    expectProtocolError(() => parseGreeting("* OK IMAP4rev1 ready"));
    expectProtocolError(() => parseGreeting("220 smtp.example.com ESMTP"));
  });

  test.prop([fc.string({ unit: "binary", maxLength: 60 })])(
    "findApopTimestamp only returns a substring of the form <local@domain>",
    (text) => {
      const found = findApopTimestamp(text);
      if (found !== undefined) {
        expect(text).toContain(found);
        expect(found).toMatch(/^<[\x21-\x7e]+>$/);
        expect(found.slice(1, -1)).not.toMatch(/[<>]/);
        expect(found).toMatch(/^<[^@]+@.+>$/);
      }
    },
  );
});

describe("serializeGreeting", () => {
  it("appends the timestamp unless the text holds it", () => {
    expect(serializeGreeting({ ok: true, text: "POP3 server ready", apopTimestamp: "<1@h>" })).toBe(
      "+OK POP3 server ready <1@h>",
    );
    expect(serializeGreeting({ ok: true, text: "", apopTimestamp: "<1@h>" })).toBe("+OK <1@h>");
    expect(serializeGreeting({ ok: true, text: "ready <1@h> now", apopTimestamp: "<1@h>" })).toBe(
      "+OK ready <1@h> now",
    );
    expect(serializeGreeting({ ok: true, text: "Dovecot (Debian) ready." })).toBe(
      "+OK Dovecot (Debian) ready.",
    );
    expect(
      serializeGreeting({ ok: false, code: "SYS/TEMP", text: "busy", apopTimestamp: "<1@h>" }),
    ).toBe("-ERR [SYS/TEMP] busy <1@h>");
  });

  it("reproduces the RFC 1939 greeting from its parse", () => {
    const line = "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>";
    expect(serializeGreeting(parseGreeting(line))).toBe(line);
  });

  it("rejects a timestamp that is not one msg-id", () => {
    for (const apopTimestamp of ["1@h", "<1h>", "<a b@c>", "<1@h> x", "<1@h><2@h>", "<@h>", ""]) {
      expectBadArgument(() => serializeGreeting({ ok: true, text: "hi", apopTimestamp }));
    }
  });

  it("rejects text with a msg-id that clients would take for the timestamp", () => {
    expectBadArgument(() => serializeGreeting({ ok: true, text: "ready <1@h>" }));
    expectBadArgument(() =>
      serializeGreeting({ ok: true, text: "ready <0@h>", apopTimestamp: "<1@h>" }),
    );
    expect(serializeGreeting({ ok: true, text: "ready <0@h>", apopTimestamp: "<0@h>" })).toBe(
      "+OK ready <0@h>",
    );
  });

  it("applies the status line rules", () => {
    expectBadArgument(() => serializeGreeting({ ok: true, text: "a\r\n+OK b" }));
    expectBadArgument(() =>
      serializeGreeting({ ok: true, text: "x".repeat(501), apopTimestamp: "<1@h>" }),
    );
  });

  test.prop([arbGreeting])("parseGreeting(serializeGreeting(x)) equals x", (greeting) => {
    expect(parseGreeting(serializeGreeting(greeting))).toStrictEqual(greeting);
  });

  test.prop([fc.string({ unit: "grapheme-ascii", maxLength: 40 }), arbApopTimestamp])(
    "a timestamp appended to text without '<' is found again",
    (text, apopTimestamp) => {
      fc.pre(!text.includes("<") && !text.startsWith("["));
      const parsed = parseGreeting(serializeGreeting({ ok: true, text, apopTimestamp }));
      expect(parsed.apopTimestamp).toBe(apopTimestamp);
      expect(parsed.text.endsWith(apopTimestamp)).toBe(true);
    },
  );
});
