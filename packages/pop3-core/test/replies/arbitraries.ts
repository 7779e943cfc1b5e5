/**
 * fast-check arbitraries for server replies. Every value they produce is one that the serializers
 * accept and that the parsers read back to an equal value (the canonical form), so they can drive
 * round-trip properties anywhere in the package (session tests, framing tests, ...).
 */
import { fc } from "@fast-check/vitest";
import type { Capability } from "../../src/types/capability";
import {
  type DropListing,
  type Greeting,
  type LanguageListing,
  RESPONSE_CODES,
  type ScanListing,
  type StatusReply,
  type UidListing,
} from "../../src/types/reply";

/** Every character from `first` to `last` (code points), minus those in `except`. */
function charRange(first: number, last: number, except = ""): string[] {
  const chars: string[] = [];
  for (let cp = first; cp <= last; cp++) {
    const char = String.fromCodePoint(cp);
    if (!except.includes(char)) chars.push(char);
  }
  return chars;
}

/** Printable ASCII, 0x21-0x7E. */
export const PRINTABLE_ASCII: readonly string[] = charRange(0x21, 0x7e);

/** Any one code point except CR, LF and NUL (never a lone surrogate). */
const anyLineChar: fc.Arbitrary<string> = fc
  .string({ unit: "binary", minLength: 1, maxLength: 1 })
  .filter((c) => c !== "\r" && c !== "\n" && c !== "\0");

/** Characters that matter to the grammar, weighted up so they show up often. */
const GRAMMAR_CHARS = [" ", " ", "[", "]", "/", "<", ">", "@", "+", "-", ".", "\t", "0", "1"];

/** One character for free text: grammar characters, ASCII, or any code point. */
const textChar: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...GRAMMAR_CHARS),
  fc.constantFrom(...PRINTABLE_ASCII),
  anyLineChar,
);

/** Text that can go into a line (no CR, LF, NUL, lone surrogate). At most 4 octets a unit. */
export function arbLineText(maxLength: number): fc.Arbitrary<string> {
  return fc.string({ unit: textChar, maxLength });
}

/** What the status parser takes for a response code at the start of the text (RFC 2449 §3). */
const LEADING_CODE = /^\[[\x21-\x2e\x30-\x5c\x5e-\x7e]+(?:\/[\x21-\x2e\x30-\x5c\x5e-\x7e]+)*\]/;

/** A response code without brackets: a known one, or 1-3 random levels of `rchar`s. */
export const arbResponseCode: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...Object.values(RESPONSE_CODES)),
  fc
    .array(
      fc.string({
        unit: fc.constantFrom(...charRange(0x21, 0x7e, "/]")),
        minLength: 1,
        maxLength: 12,
      }),
      { minLength: 1, maxLength: 3 },
    )
    .map((levels) => levels.join("/")),
);

/** Status text: up to 100 characters, so the line stays under 512 octets whatever the code. */
export const arbStatusText: fc.Arbitrary<string> = arbLineText(100);

/** A status reply in canonical form: without a code, the text never starts with one. */
export const arbStatusReply: fc.Arbitrary<StatusReply> = fc
  .record(
    { ok: fc.boolean(), code: arbResponseCode, text: arbStatusText },
    { requiredKeys: ["ok", "text"], noNullPrototype: true },
  )
  .filter((reply) => reply.code !== undefined || !LEADING_CODE.test(reply.text));

/** An APOP timestamp: `<local@domain>` of printable ASCII, no `<`, `>` or spaces inside. */
export const arbApopTimestamp: fc.Arbitrary<string> = fc
  .tuple(
    fc.string({
      unit: fc.constantFrom(...charRange(0x21, 0x7e, "<>@")),
      minLength: 1,
      maxLength: 20,
    }),
    fc.string({
      unit: fc.constantFrom(...charRange(0x21, 0x7e, "<>")),
      minLength: 1,
      maxLength: 20,
    }),
  )
  .map(([local, domain]) => `<${local}@${domain}>`);

/** Greeting text pieces that can never form or start a msg-id: no `<`, or a closed non-msg-id. */
const greetingPiece: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: textChar.filter((c) => c !== "<"), maxLength: 20 }),
  fc.constantFrom("<>", "<abc>", "<a b@c>", "<@host>", "<local@>", "<x<y>", "<1896.697170952>"),
);

/**
 * A greeting in canonical form, as `parseGreeting` returns it: when there is a timestamp, the text
 * contains it and holds no msg-id before it; when there is none, the text holds no msg-id at all.
 */
export const arbGreeting: fc.Arbitrary<Greeting> = fc
  .record(
    {
      ok: fc.boolean(),
      code: arbResponseCode,
      before: fc.array(greetingPiece, { maxLength: 4 }),
      timestamp: arbApopTimestamp,
      after: fc.array(fc.oneof(greetingPiece, arbApopTimestamp), { maxLength: 3 }),
    },
    { requiredKeys: ["ok", "before", "after"], noNullPrototype: true },
  )
  .map(({ ok, code, before, timestamp, after }): Greeting => {
    if (timestamp === undefined) {
      const text = before.join("");
      return code === undefined ? { ok, text } : { ok, code, text };
    }
    const text = [...before, timestamp, ...after].join("");
    return code === undefined
      ? { ok, text, apopTimestamp: timestamp }
      : { ok, code, text, apopTimestamp: timestamp };
  })
  .filter((greeting) => greeting.code !== undefined || !LEADING_CODE.test(greeting.text));

/** A non-negative safe integer, small ones and huge ones both common. */
export const arbSize: fc.Arbitrary<number> = fc.oneof(
  fc.nat(1000),
  fc.nat(),
  fc.maxSafeNat(),
  fc.constant(Number.MAX_SAFE_INTEGER),
);

/** A message number: a safe integer >= 1. */
export const arbMsgNumber: fc.Arbitrary<number> = arbSize.map((n) =>
  n === Number.MAX_SAFE_INTEGER ? n : n + 1,
);

/** A unique-id: 1 to 70 characters of 0x21-0x7E (RFC 1939 §7). */
export const arbUid: fc.Arbitrary<string> = fc.string({
  unit: fc.constantFrom(...PRINTABLE_ASCII),
  minLength: 1,
  maxLength: 70,
});

export const arbDropListing: fc.Arbitrary<DropListing> = fc.record(
  {
    count: arbSize,
    size: arbSize,
  },
  { noNullPrototype: true },
);

export const arbScanListing: fc.Arbitrary<ScanListing> = fc.record(
  {
    msg: arbMsgNumber,
    size: arbSize,
  },
  { noNullPrototype: true },
);

export const arbUidListing: fc.Arbitrary<UidListing> = fc.record(
  {
    msg: arbMsgNumber,
    uid: arbUid,
  },
  { noNullPrototype: true },
);

/** An RFC 4422 mechanism name, upper-case as the parsers return it. */
export const arbSaslMechanism: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom("PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "SCRAM-SHA-256-PLUS", "KERBEROS_V4"),
  fc.string({
    unit: fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"),
    minLength: 1,
    maxLength: 20,
  }),
);

/** Capability keywords the parser gives a typed form (compared upper-cased). */
const KNOWN_KEYWORDS = new Set([
  "TOP",
  "UIDL",
  "USER",
  "SASL",
  "RESP-CODES",
  "AUTH-RESP-CODE",
  "PIPELINING",
  "STLS",
  "LANG",
  "LOGIN-DELAY",
  "EXPIRE",
  "IMPLEMENTATION",
  "UTF8",
]);

/** An unknown capability (keyword: printable ASCII without `.`), with printable arguments. */
const arbUnknownCapability: fc.Arbitrary<Capability> = fc.record(
  {
    name: fc.constant("OTHER" as const),
    keyword: fc
      .string({ unit: fc.constantFrom(...charRange(0x21, 0x7e, ".")), minLength: 1, maxLength: 20 })
      .filter((keyword) => !KNOWN_KEYWORDS.has(keyword.toUpperCase())),
    args: fc.array(
      fc.string({ unit: fc.constantFrom(...PRINTABLE_ASCII), minLength: 1, maxLength: 20 }),
      {
        maxLength: 5,
      },
    ),
  },
  { noNullPrototype: true },
);

/** Known keywords with arguments that do not fit, which the parser keeps as OTHER. */
const arbMalformedKnownCapability: fc.Arbitrary<Capability> = fc.constantFrom<Capability>(
  { name: "OTHER", keyword: "LOGIN-DELAY", args: ["soon"] },
  { name: "OTHER", keyword: "LOGIN-DELAY", args: [] },
  { name: "OTHER", keyword: "Login-Delay", args: ["10", "USER", "x"] },
  { name: "OTHER", keyword: "EXPIRE", args: ["-1"] },
  { name: "OTHER", keyword: "EXPIRE", args: ["NEVER", "ALL"] },
  { name: "OTHER", keyword: "UTF8", args: ["ALL"] },
  { name: "OTHER", keyword: "top", args: ["10"] },
  { name: "OTHER", keyword: "STLS", args: ["now"] },
);

export const arbCapability: fc.Arbitrary<Capability> = fc.oneof(
  fc.constantFrom<Capability>(
    { name: "TOP" },
    { name: "UIDL" },
    { name: "USER" },
    { name: "RESP-CODES" },
    { name: "AUTH-RESP-CODE" },
    { name: "PIPELINING" },
    { name: "STLS" },
    { name: "LANG" },
  ),
  fc.record(
    {
      name: fc.constant("SASL" as const),
      mechanisms: fc.array(arbSaslMechanism, { maxLength: 6 }),
    },
    { noNullPrototype: true },
  ),
  fc.record(
    { name: fc.constant("LOGIN-DELAY" as const), seconds: arbSize, perUser: fc.boolean() },
    { noNullPrototype: true },
  ),
  fc.record(
    {
      name: fc.constant("EXPIRE" as const),
      days: fc.oneof(arbSize, fc.constant("NEVER" as const)),
      perUser: fc.boolean(),
    },
    { noNullPrototype: true },
  ),
  fc.record(
    { name: fc.constant("IMPLEMENTATION" as const), text: arbLineText(100) },
    { noNullPrototype: true },
  ),
  fc.record({ name: fc.constant("UTF8" as const), user: fc.boolean() }, { noNullPrototype: true }),
  arbUnknownCapability,
  arbMalformedKnownCapability,
);

export const arbCapabilityList: fc.Arbitrary<Capability[]> = fc.array(arbCapability, {
  maxLength: 15,
});

/**
 * Noise for "never throws anything but RemoteProtocolError" properties: random code points
 * (CR, LF and NUL included), and random tails after prefixes that get parsers past their first
 * checks.
 */
export const arbReplyNoise: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: "binary", maxLength: 80 }),
  fc.string({
    unit: fc.oneof(fc.constantFrom(...GRAMMAR_CHARS, "\r", "\n", "\0", "\u2028"), textChar),
    maxLength: 80,
  }),
  fc
    .tuple(
      fc.constantFrom(
        "+OK",
        "+OK ",
        "-ERR ",
        "+ok [",
        "-ERR [SYS/",
        "+",
        "+ ",
        "1 ",
        "0 ",
        "12 34",
        "9007199254740993 ",
        "SASL ",
        "LOGIN-DELAY ",
        "EXPIRE ",
        "UTF8 ",
        "IMPLEMENTATION ",
      ),
      fc.string({ unit: fc.oneof(fc.constantFrom(...GRAMMAR_CHARS), textChar), maxLength: 40 }),
    )
    .map(([prefix, tail]) => prefix + tail),
);

const LETTERS = [...charRange(0x41, 0x5a), ...charRange(0x61, 0x7a)];
const DIGITS = charRange(0x30, 0x39);

/**
 * A language tag of RFC 5646's shape: a first subtag of 1-8 letters, then subtags of 1-8 letters
 * or digits after `-`. Real tags (en, de-CH, zh-Hant-TW, i-klingon, x-private) are mixed in.
 */
export const arbLanguageTag: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "en",
    "EN",
    "de-CH",
    "zh-Hant-TW",
    "en-boont",
    "i-klingon",
    "x-private",
    "sgn-BE-FR",
  ),
  fc
    .tuple(
      fc.string({ unit: fc.constantFrom(...LETTERS), minLength: 1, maxLength: 8 }),
      fc.array(
        fc.string({ unit: fc.constantFrom(...LETTERS, ...DIGITS), minLength: 1, maxLength: 8 }),
        { maxLength: 4 },
      ),
    )
    .map(([first, rest]) => [first, ...rest].join("-")),
);

/**
 * A language listing: any description that can go into a line, spaces, tabs and code points of
 * every UTF-8 length (1 to 4 octets) included, often empty.
 */
export const arbLanguageListing: fc.Arbitrary<LanguageListing> = fc.record(
  {
    tag: arbLanguageTag,
    description: fc.oneof(
      fc.constantFrom(
        "",
        "English",
        "Español",
        "日本語",
        "Deutsch (Schweiz)",
        " two  spaces ",
        "😀",
      ),
      arbLineText(60),
    ),
  },
  { noNullPrototype: true },
);
