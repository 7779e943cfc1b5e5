/**
 * fast-check arbitraries for POP3, for property tests of code that uses POP3: commands a client
 * may send, replies and listings a server may give, and messages full of the cases that break
 * naive code (lines starting with ".", a lone ".", bare LF and CR, NUL, 8-bit bytes, no final line
 * end). Every command and reply they make is one pop3-core serializes and parses back unchanged.
 *
 * Import from `pop3-test-harness/arbitraries`; fast-check is a peer dependency.
 */
import fc from "fast-check";
import {
  type Capability,
  KNOWN_COMMANDS,
  type Pop3Command,
  RESPONSE_CODES,
  type ScanListing,
  Secret,
  type StatusReply,
  type UidListing,
} from "pop3-core";

const visible = fc.stringMatching(/^[!-~]{1,40}$/);
const messageNumber = fc.integer({ min: 1, max: 100_000 });
const mechanismName = fc.constantFrom(
  "PLAIN",
  "LOGIN",
  "CRAM-MD5",
  "XOAUTH2",
  "OAUTHBEARER",
  "SCRAM-SHA-256",
);
const base64 = fc
  .uint8Array({ minLength: 1, maxLength: 90 })
  .map((bytes) => Buffer.from(bytes).toString("base64"));

/** Any command of RFC 1939 and its extensions, with valid arguments; secrets in `Secret`. */
export const pop3Command: fc.Arbitrary<Pop3Command> = fc.oneof(
  fc.constantFrom<Pop3Command>(
    { name: "STAT" },
    { name: "LIST" },
    { name: "UIDL" },
    { name: "NOOP" },
    { name: "RSET" },
    { name: "QUIT" },
    { name: "CAPA" },
    { name: "STLS" },
    { name: "UTF8" },
    { name: "LANG" },
    { name: "AUTH" },
  ),
  visible.map((user): Pop3Command => ({ name: "USER", user })),
  fc
    .stringMatching(/^[^\0\r\n]{1,40}$/)
    .map((p): Pop3Command => ({ name: "PASS", password: new Secret(p) })),
  fc
    .tuple(visible, fc.stringMatching(/^[0-9a-f]{32}$/))
    .map(([user, digest]): Pop3Command => ({ name: "APOP", user, digest })),
  fc
    .tuple(mechanismName, fc.option(fc.oneof(fc.constant(""), base64), { nil: undefined }))
    .map(
      ([mechanism, initial]): Pop3Command =>
        initial === undefined
          ? { name: "AUTH", mechanism }
          : { name: "AUTH", mechanism, initialResponse: new Secret(initial) },
    ),
  messageNumber.map((msg): Pop3Command => ({ name: "LIST", msg })),
  messageNumber.map((msg): Pop3Command => ({ name: "UIDL", msg })),
  messageNumber.map((msg): Pop3Command => ({ name: "RETR", msg })),
  messageNumber.map((msg): Pop3Command => ({ name: "DELE", msg })),
  fc
    .tuple(messageNumber, fc.nat({ max: 1000 }))
    .map(([msg, lines]): Pop3Command => ({ name: "TOP", msg, lines })),
  fc.constantFrom("en", "de", "*", "fr-CA").map((tag): Pop3Command => ({ name: "LANG", tag })),
  fc
    .tuple(
      fc
        .stringMatching(/^X[A-Z]{2,3}$/)
        .filter((k) => !(KNOWN_COMMANDS as readonly string[]).includes(k)),
      fc.array(visible, { maxLength: 3 }),
    )
    .map(([keyword, args]): Pop3Command => ({ name: "UNKNOWN", keyword, args })),
);

/** Status text that is safe on a line and cannot be mistaken for a response code. */
const statusText = fc.stringMatching(/^[ -Z\\^-~]{0,60}$/).filter((t) => !t.startsWith("["));

/** `+OK` / `-ERR` replies, some with RFC 2449 / 3206 / 6856 response codes. */
export const statusReply: fc.Arbitrary<StatusReply> = fc
  .tuple(
    fc.boolean(),
    fc.option(fc.constantFrom(...Object.values(RESPONSE_CODES)), { nil: undefined }),
    statusText,
  )
  .map(([ok, code, text]): StatusReply => (code === undefined ? { ok, text } : { ok, code, text }));

/** A UID as RFC 1939 §7 allows: 1–70 characters 0x21–0x7E. */
export const uid: fc.Arbitrary<string> = fc.stringMatching(/^[!-~]{1,70}$/);

/** A LIST answer: distinct increasing message numbers, sizes. */
export const scanListing: fc.Arbitrary<ScanListing[]> = fc
  .uniqueArray(messageNumber, { maxLength: 20 })
  .chain((numbers) =>
    fc.tuple(
      ...numbers
        .sort((a, b) => a - b)
        .map((msg) => fc.nat({ max: 50_000_000 }).map((size) => ({ msg, size }))),
    ),
  );

/** A UIDL answer: distinct increasing message numbers with distinct UIDs. */
export const uidListing: fc.Arbitrary<UidListing[]> = fc
  .uniqueArray(uid, { maxLength: 20 })
  .map((uids) => uids.map((u, i) => ({ msg: i + 1, uid: u })));

/** One CAPA line. */
export const capability: fc.Arbitrary<Capability> = fc.oneof(
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
  fc
    .uniqueArray(mechanismName, { minLength: 1, maxLength: 4 })
    .map((mechanisms): Capability => ({ name: "SASL", mechanisms })),
  fc
    .tuple(fc.nat({ max: 3600 }), fc.boolean())
    .map(([seconds, perUser]): Capability => ({ name: "LOGIN-DELAY", seconds, perUser })),
  fc
    .tuple(fc.oneof(fc.nat({ max: 365 }), fc.constant("NEVER" as const)), fc.boolean())
    .map(([days, perUser]): Capability => ({ name: "EXPIRE", days, perUser })),
  fc.boolean().map((user): Capability => ({ name: "UTF8", user })),
  fc
    .stringMatching(/^[!-~][ -~]{0,30}$/)
    .map((text): Capability => ({ name: "IMPLEMENTATION", text })),
);

/** A CAPA answer without repeated names. */
export const capabilityList: fc.Arbitrary<Capability[]> = fc.uniqueArray(capability, {
  maxLength: 10,
  selector: (c) => c.name,
});

/** Bytes that make naive POP3 code fail: dots at line starts, CR/LF alone, NUL, 8-bit. */
export const messageBytes = (options: { maxLength?: number } = {}): fc.Arbitrary<Uint8Array> =>
  fc
    .array(
      fc.oneof(
        { weight: 5, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
        { weight: 3, arbitrary: fc.constantFrom(0x0d, 0x0a, 0x2e) },
        { weight: 1, arbitrary: fc.constantFrom(0x00, 0x80, 0xff, 0xc3, 0xa9) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
      ),
      { maxLength: options.maxLength ?? 2000 },
    )
    .map((bytes) => Uint8Array.from(bytes));

/** A mail message: a header block, a blank line, and a body of CRLF lines, some with leading dots. */
export const mailMessage: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    fc.stringMatching(/^[ -~]{0,60}$/),
    fc.array(
      fc.oneof(fc.stringMatching(/^[ -~]{0,100}$/), fc.constantFrom(".", "..", ".leading dot", "")),
      { maxLength: 50 },
    ),
    fc.boolean(),
  )
  .map(([subject, lines, finalLineEnd]) => {
    const text = `From: a@example.org\r\nSubject: ${subject}\r\n\r\n${lines.join("\r\n")}${finalLineEnd ? "\r\n" : ""}`;
    return new TextEncoder().encode(text);
  });
