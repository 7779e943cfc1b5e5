import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import {
  parseCapabilities,
  parseCapabilityLine,
  parseMechanismList,
} from "../../src/parse/capability";
import {
  serializeCapabilities,
  serializeCapability,
  serializeMechanismList,
} from "../../src/serialize/capability";
import { Capabilities, type Capability } from "../../src/types/capability";
import { arbCapabilityList, arbReplyNoise, arbSaslMechanism } from "./arbitraries";
import {
  expectBadArgument,
  expectProtocolError,
  expectValueOrProtocolError,
  octets,
} from "./helpers";

/** The CAPA example of RFC 2449 §5. */
const RFC2449_LINES = [
  "TOP",
  "USER",
  "SASL CRAM-MD5 KERBEROS_V4",
  "RESP-CODES",
  "LOGIN-DELAY 900",
  "PIPELINING",
  "EXPIRE 60",
  "UIDL",
  "IMPLEMENTATION Shlemazle-Plotz-v302",
];

const RFC2449_CAPABILITIES: Capability[] = [
  { name: "TOP" },
  { name: "USER" },
  { name: "SASL", mechanisms: ["CRAM-MD5", "KERBEROS_V4"] },
  { name: "RESP-CODES" },
  { name: "LOGIN-DELAY", seconds: 900, perUser: false },
  { name: "PIPELINING" },
  { name: "EXPIRE", days: 60, perUser: false },
  { name: "UIDL" },
  { name: "IMPLEMENTATION", text: "Shlemazle-Plotz-v302" },
];

/** Dovecot 2.3's CAPA body before login, with STLS and two SASL mechanisms. */
const DOVECOT_LINES = [
  "CAPA",
  "TOP",
  "UIDL",
  "RESP-CODES",
  "PIPELINING",
  "AUTH-RESP-CODE",
  "STLS",
  "USER",
  "SASL PLAIN LOGIN",
];

describe("parseCapabilities", () => {
  it("reads the RFC 2449 example", () => {
    const caps = parseCapabilities(RFC2449_LINES);
    expect(caps).toBeInstanceOf(Capabilities);
    expect(caps.list).toStrictEqual(RFC2449_CAPABILITIES);
    expect(caps.has("PIPELINING")).toBe(true);
    expect(caps.has("STLS")).toBe(false);
    expect(caps.get("LOGIN-DELAY")?.seconds).toBe(900);
    expect(caps.get("EXPIRE")?.days).toBe(60);
    expect(caps.get("IMPLEMENTATION")?.text).toBe("Shlemazle-Plotz-v302");
    expect(caps.saslMechanisms).toStrictEqual(["CRAM-MD5", "KERBEROS_V4"]);
  });

  it("reads Dovecot's CAPA, keeping its CAPA line as OTHER", () => {
    const caps = parseCapabilities(DOVECOT_LINES);
    expect(caps.list).toStrictEqual([
      { name: "OTHER", keyword: "CAPA", args: [] },
      { name: "TOP" },
      { name: "UIDL" },
      { name: "RESP-CODES" },
      { name: "PIPELINING" },
      { name: "AUTH-RESP-CODE" },
      { name: "STLS" },
      { name: "USER" },
      { name: "SASL", mechanisms: ["PLAIN", "LOGIN"] },
    ]);
    expect(caps.other("capa")).toStrictEqual({ name: "OTHER", keyword: "CAPA", args: [] });
    expect(caps.saslMechanisms).toStrictEqual(["PLAIN", "LOGIN"]);
  });

  it("reads the RFC 6856 UTF8 and LANG capabilities", () => {
    expect(parseCapabilities(["UTF8", "UTF8 USER", "LANG"]).list).toStrictEqual([
      { name: "UTF8", user: false },
      { name: "UTF8", user: true },
      { name: "LANG" },
    ]);
  });

  it("reads the USER flags and EXPIRE NEVER of RFC 2449", () => {
    expect(
      parseCapabilities(["LOGIN-DELAY 0 USER", "EXPIRE NEVER", "EXPIRE 0 USER"]).list,
    ).toStrictEqual([
      { name: "LOGIN-DELAY", seconds: 0, perUser: true },
      { name: "EXPIRE", days: "NEVER", perUser: false },
      { name: "EXPIRE", days: 0, perUser: true },
    ]);
  });

  it("matches keywords and flags case-insensitively and upper-cases mechanisms", () => {
    expect(
      parseCapabilities([
        "top",
        "Sasl plain xoauth2",
        "login-delay 900 user",
        "expire never User",
        "utf8 user",
      ]).list,
    ).toStrictEqual([
      { name: "TOP" },
      { name: "SASL", mechanisms: ["PLAIN", "XOAUTH2"] },
      { name: "LOGIN-DELAY", seconds: 900, perUser: true },
      { name: "EXPIRE", days: "NEVER", perUser: true },
      { name: "UTF8", user: true },
    ]);
  });

  it("upper-cases ASCII letters only", () => {
    // U+017F LATIN SMALL LETTER LONG S upper-cases to "S" in Unicode.
    expect(parseCapabilityLine("\u017fasl plain")).toStrictEqual({
      name: "OTHER",
      keyword: "\u017fasl",
      args: ["plain"],
    });
    expect(parseCapabilityLine("SASL \u017fcram")).toStrictEqual({
      name: "SASL",
      mechanisms: ["\u017fCRAM"],
    });
  });

  it("keeps unknown capabilities verbatim as OTHER", () => {
    expect(
      parseCapabilities(["X-GOOGLE-RICO", "x-Foo Bar baz", "AUTH-RESP-CODE"]).list,
    ).toStrictEqual([
      { name: "OTHER", keyword: "X-GOOGLE-RICO", args: [] },
      { name: "OTHER", keyword: "x-Foo", args: ["Bar", "baz"] },
      { name: "AUTH-RESP-CODE" },
    ]);
  });

  it("keeps known capabilities with malformed arguments as OTHER", () => {
    const cases: [string, string, string[]][] = [
      ["LOGIN-DELAY abc", "LOGIN-DELAY", ["abc"]],
      ["LOGIN-DELAY", "LOGIN-DELAY", []],
      ["login-delay -5", "login-delay", ["-5"]],
      ["LOGIN-DELAY 10 USER extra", "LOGIN-DELAY", ["10", "USER", "extra"]],
      ["LOGIN-DELAY 10 ALL", "LOGIN-DELAY", ["10", "ALL"]],
      ["LOGIN-DELAY 99999999999999999999", "LOGIN-DELAY", ["99999999999999999999"]],
      ["EXPIRE", "EXPIRE", []],
      ["EXPIRE -1", "EXPIRE", ["-1"]],
      ["EXPIRE 1.5", "EXPIRE", ["1.5"]],
      ["EXPIRE NEVERMORE", "EXPIRE", ["NEVERMORE"]],
      ["UTF8 ALL", "UTF8", ["ALL"]],
      ["UTF8 USER USER", "UTF8", ["USER", "USER"]],
      ["TOP 10", "TOP", ["10"]],
      ["STLS now", "STLS", ["now"]],
      ["LANG en", "LANG", ["en"]],
    ];
    for (const [line, keyword, args] of cases) {
      expect(parseCapabilityLine(line), line).toStrictEqual({ name: "OTHER", keyword, args });
    }
  });

  it("tolerates extra blanks and skips blank lines", () => {
    expect(
      parseCapabilities(["", "  ", "\t", "  TOP  ", "SASL  PLAIN\tLOGIN ", "USER\t"]).list,
    ).toStrictEqual([
      { name: "TOP" },
      { name: "SASL", mechanisms: ["PLAIN", "LOGIN"] },
      { name: "USER" },
    ]);
    expect(parseCapabilities([]).list).toStrictEqual([]);
    expect(parseCapabilityLine("SASL")).toStrictEqual({ name: "SASL", mechanisms: [] });
  });

  it("keeps the IMPLEMENTATION text after one blank verbatim", () => {
    expect(parseCapabilityLine("IMPLEMENTATION  Foo  Bar ")).toStrictEqual({
      name: "IMPLEMENTATION",
      text: " Foo  Bar ",
    });
    expect(parseCapabilityLine("implementation Dovecot 2.3 (ünïcode)")).toStrictEqual({
      name: "IMPLEMENTATION",
      text: "Dovecot 2.3 (ünïcode)",
    });
    expect(parseCapabilityLine("IMPLEMENTATION")).toStrictEqual({
      name: "IMPLEMENTATION",
      text: "",
    });
  });

  it("rejects CR, LF and NUL", () => {
    expectProtocolError(() => parseCapabilities(["TOP", "USER\r"]));
    expectProtocolError(() => parseCapabilities(["TOP\nUSER"]));
    expectProtocolError(() => parseCapabilities(["IMPLEMENTATION a\0b"]));
  });

  test.prop([fc.array(arbReplyNoise, { maxLength: 8 })])(
    "never throws anything but RemoteProtocolError",
    (lines) => {
      expectValueOrProtocolError(() => parseCapabilities(lines));
      expectValueOrProtocolError(() => parseMechanismList(lines));
    },
  );

  test.prop([
    fc.array(
      arbReplyNoise.filter((line) => !/[\r\n\0]/.test(line)),
      { maxLength: 8 },
    ),
  ])("never throws on lines without CR, LF and NUL, and keeps every non-blank line", (lines) => {
    const caps = parseCapabilities(lines);
    expect(caps.list).toHaveLength(lines.filter((line) => !/^[ \t]*$/.test(line)).length);
  });
});

describe("serializeCapabilities", () => {
  it("writes the RFC 2449 example", () => {
    expect(serializeCapabilities(RFC2449_CAPABILITIES)).toStrictEqual(RFC2449_LINES);
    expect(serializeCapabilities(new Capabilities(RFC2449_CAPABILITIES))).toStrictEqual(
      RFC2449_LINES,
    );
  });

  it("reproduces Dovecot's CAPA from its parse", () => {
    expect(serializeCapabilities(parseCapabilities(DOVECOT_LINES))).toStrictEqual(DOVECOT_LINES);
  });

  it("writes flags, NEVER and an empty IMPLEMENTATION", () => {
    expect(
      serializeCapabilities([
        { name: "LOGIN-DELAY", seconds: 300, perUser: true },
        { name: "EXPIRE", days: "NEVER", perUser: false },
        { name: "EXPIRE", days: 0, perUser: true },
        { name: "UTF8", user: true },
        { name: "UTF8", user: false },
        { name: "IMPLEMENTATION", text: "" },
        { name: "SASL", mechanisms: [] },
        { name: "SASL", mechanisms: ["plain", "Scram-Sha-1"] },
        { name: "OTHER", keyword: "X-GOOGLE-RICO", args: [] },
        { name: "OTHER", keyword: "x-foo", args: ["a", "B"] },
      ]),
    ).toStrictEqual([
      "LOGIN-DELAY 300 USER",
      "EXPIRE NEVER",
      "EXPIRE 0 USER",
      "UTF8 USER",
      "UTF8",
      "IMPLEMENTATION",
      "SASL",
      "SASL PLAIN SCRAM-SHA-1",
      "X-GOOGLE-RICO",
      "x-foo a B",
    ]);
  });

  it("rejects values that cannot be sent", () => {
    const bad: Capability[] = [
      { name: "SASL", mechanisms: ["PLAIN LOGIN"] },
      { name: "SASL", mechanisms: [""] },
      { name: "SASL", mechanisms: ["A".repeat(21)] },
      { name: "SASL", mechanisms: ["SCRAM.SHA"] },
      { name: "SASL", mechanisms: ["PLAIN\r\n"] },
      { name: "LOGIN-DELAY", seconds: -1, perUser: false },
      { name: "LOGIN-DELAY", seconds: 1.5, perUser: false },
      { name: "EXPIRE", days: Number.NaN, perUser: false },
      { name: "EXPIRE", days: Number.MAX_SAFE_INTEGER + 1, perUser: false },
      { name: "IMPLEMENTATION", text: "a\r\nTOP" },
      { name: "IMPLEMENTATION", text: "a\0" },
      { name: "IMPLEMENTATION", text: "\ud800" },
      { name: "IMPLEMENTATION", text: "x".repeat(496) },
      { name: "OTHER", keyword: "", args: [] },
      { name: "OTHER", keyword: "X.Y", args: [] },
      { name: "OTHER", keyword: ".", args: [] },
      { name: "OTHER", keyword: "A B", args: [] },
      { name: "OTHER", keyword: "ÄÖ", args: [] },
      { name: "OTHER", keyword: "X", args: [""] },
      { name: "OTHER", keyword: "X", args: ["a b"] },
      { name: "OTHER", keyword: "X", args: ["a\r\n"] },
      { name: "OTHER", keyword: "X", args: ["x".repeat(509)] },
    ];
    for (const capability of bad) {
      expectBadArgument(() => serializeCapabilities([{ name: "TOP" }, capability]));
    }
  });

  it("limits a line to 512 octets including CRLF", () => {
    const line = serializeCapability({ name: "IMPLEMENTATION", text: "é".repeat(247) });
    expect(octets(line)).toBe(509);
    expect(
      serializeCapability({ name: "OTHER", keyword: "X", args: ["x".repeat(508)] }),
    ).toHaveLength(510);
  });

  test.prop([arbCapabilityList])("parseCapabilities(serializeCapabilities(x)) equals x", (list) => {
    const lines = serializeCapabilities(list);
    expect(lines).toHaveLength(list.length);
    for (const line of lines) {
      expect(line).not.toMatch(/[\r\n\0]/);
      expect(line.startsWith(".")).toBe(false);
      expect(octets(line)).toBeLessThanOrEqual(510);
    }
    expect(parseCapabilities(lines).list).toStrictEqual(list);
    expect(serializeCapabilities(new Capabilities(list))).toStrictEqual(lines);
  });
});

describe("mechanism lists", () => {
  it("reads Dovecot's answer to a bare AUTH", () => {
    expect(parseMechanismList(["PLAIN", "LOGIN"])).toStrictEqual(["PLAIN", "LOGIN"]);
  });

  it("upper-cases, skips blank lines and splits lines with several words", () => {
    expect(parseMechanismList(["plain", "", "  cram-md5 ", "XOAUTH2 OAUTHBEARER"])).toStrictEqual([
      "PLAIN",
      "CRAM-MD5",
      "XOAUTH2",
      "OAUTHBEARER",
    ]);
    expect(parseMechanismList([])).toStrictEqual([]);
  });

  it("rejects CR, LF and NUL", () => {
    expectProtocolError(() => parseMechanismList(["PLAIN\r"]));
  });

  it("serializes one upper-cased mechanism per line", () => {
    expect(serializeMechanismList(["plain", "CRAM-MD5"])).toStrictEqual(["PLAIN", "CRAM-MD5"]);
    expect(serializeMechanismList([])).toStrictEqual([]);
    expectBadArgument(() => serializeMechanismList(["PLAIN LOGIN"]));
    expectBadArgument(() => serializeMechanismList(["PLAIN", ""]));
  });

  test.prop([fc.array(arbSaslMechanism, { maxLength: 10 })])(
    "parseMechanismList(serializeMechanismList(x)) equals x",
    (mechanisms) => {
      expect(parseMechanismList(serializeMechanismList(mechanisms))).toStrictEqual(mechanisms);
    },
  );
});
