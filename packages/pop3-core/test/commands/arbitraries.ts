import { fc } from "@fast-check/vitest";
import { Secret } from "../../src/secret";
import { KNOWN_COMMANDS, type Pop3Command } from "../../src/types/command";

const word = fc.stringMatching(/^[!-~]{1,40}$/);
const msg = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
const base64 = fc
  .uint8Array({ minLength: 1, maxLength: 100 })
  .map((b) => btoa(String.fromCharCode(...b)));

/** Any command that `serializeCommand` accepts, with arguments inside the default limits. */
export const pop3Command: fc.Arbitrary<Pop3Command> = fc.oneof(
  fc.constantFrom<Pop3Command>(
    { name: "STAT" },
    { name: "NOOP" },
    { name: "RSET" },
    { name: "QUIT" },
    { name: "CAPA" },
    { name: "STLS" },
    { name: "UTF8" },
    { name: "LIST" },
    { name: "UIDL" },
    { name: "LANG" },
    { name: "AUTH" },
  ),
  word.map((user): Pop3Command => ({ name: "USER", user })),
  fc
    .stringMatching(/^[^\0\r\n]{1,40}$/)
    .map((password): Pop3Command => ({ name: "PASS", password: new Secret(password) })),
  fc
    .tuple(word, fc.stringMatching(/^[0-9a-f]{32}$/))
    .map(([user, digest]): Pop3Command => ({ name: "APOP", user, digest })),
  fc
    .stringMatching(/^[A-Z0-9_-]{1,20}$/)
    .map((mechanism): Pop3Command => ({ name: "AUTH", mechanism })),
  fc.tuple(fc.stringMatching(/^[A-Z0-9_-]{1,20}$/), fc.oneof(fc.constant(""), base64)).map(
    ([mechanism, ir]): Pop3Command => ({
      name: "AUTH",
      mechanism,
      initialResponse: new Secret(ir),
    }),
  ),
  msg.map((n): Pop3Command => ({ name: "LIST", msg: n })),
  msg.map((n): Pop3Command => ({ name: "UIDL", msg: n })),
  msg.map((n): Pop3Command => ({ name: "RETR", msg: n })),
  msg.map((n): Pop3Command => ({ name: "DELE", msg: n })),
  fc
    .tuple(msg, fc.nat({ max: Number.MAX_SAFE_INTEGER }))
    .map(([n, lines]): Pop3Command => ({ name: "TOP", msg: n, lines })),
  word.map((tag): Pop3Command => ({ name: "LANG", tag })),
  fc
    .tuple(
      fc
        .stringMatching(/^[A-Z0-9]{3,4}$/)
        .filter((k) => !(KNOWN_COMMANDS as readonly string[]).includes(k)),
      fc.array(word, { maxLength: 3 }),
    )
    .map(([keyword, args]): Pop3Command => ({ name: "UNKNOWN", keyword, args })),
);

/** Replaces each Secret by `{ secret: value }` so two commands can be compared with toEqual. */
export function revealed(command: Pop3Command): unknown {
  return Object.fromEntries(
    Object.entries(command).map(([key, value]) => [
      key,
      value instanceof Secret ? { secret: value.reveal() } : value,
    ]),
  );
}
