/** A message the suite seeds, with the parts the TOP checks need. */
export interface Fixture {
  /** What the fixture is for. */
  readonly role: "plain" | "dots" | "short" | "spare" | "sacrificial";
  readonly headers: readonly string[];
  readonly body: readonly string[];
  /** The message as seeded: CRLF line ends, final CRLF. Its length is its RFC 1939 size. */
  readonly bytes: Uint8Array;
}

const encoder = new TextEncoder();

function fixture(role: Fixture["role"], n: number, subject: string, body: string[]): Fixture {
  const headers = [
    "From: POP3 conformance <conformance@example.org>",
    "To: mailbox@example.org",
    `Subject: ${subject}`,
    `Message-ID: <pop3-conformance-${n}-${role}@example.org>`,
    "Date: Mon, 01 Jan 2024 00:00:00 +0000",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=us-ascii",
  ];
  const text = `${[...headers, "", ...body].join("\r\n")}\r\n`;
  return { role, headers, body, bytes: encoder.encode(text) };
}

/**
 * The seeded mailbox, in order (message numbers 1 to 5). Every message has a different size, so a
 * server that renumbers after DELE is caught by LIST alone.
 */
export const FIXTURES: readonly Fixture[] = [
  fixture("plain", 1, "first message", [
    "This is the first message of the POP3 conformance suite.",
    "It has six body lines, so TOP can ask for fewer or more.",
    "Line three.",
    "Line four.",
    "Line five.",
    "Line six, the last one.",
  ]),
  fixture("dots", 2, "lines that start with a dot", [
    ".a line that starts with a dot",
    "..two dots",
    ".",
    "a line between",
    ". a dot and a space",
    "...",
    ".",
    "the last line",
  ]),
  fixture("short", 3, "third", ["Short body."]),
  fixture("spare", 4, "the fourth message, kept for DELE checks", [
    "Fourth message.",
    "Second line of the fourth message.",
  ]),
  fixture("sacrificial", 5, "removed by the QUIT check", [
    "The check that QUIT removes deleted messages deletes this one.",
  ]),
];

/** Index (message number - 1) of the fixture with `role`. */
export function fixtureIndex(role: Fixture["role"]): number {
  return FIXTURES.findIndex((f) => f.role === role);
}

/** What `TOP msg lines` must return for a fixture: headers, blank line, first `lines` body lines. */
export function expectedTop(fixture: Fixture, lines: number): Uint8Array {
  const text = `${[...fixture.headers, "", ...fixture.body.slice(0, lines)].join("\r\n")}\r\n`;
  return encoder.encode(text);
}
