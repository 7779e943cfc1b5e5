import fc from "fast-check";
import {
  encodeMultiline,
  MultilineDecoder,
  type Pop3Command,
  parseCapabilities,
  parseCommand,
  parseScanListing,
  parseStatusLine,
  parseUidListing,
  rfcOctetSize,
  Secret,
  serializeCapabilities,
  serializeCommand,
  serializeScanListing,
  serializeStatusLine,
  serializeUidListing,
} from "pop3-core";
import { describe, expect, it } from "vitest";
import {
  capabilityList,
  mailMessage,
  messageBytes,
  pop3Command,
  scanListing,
  statusReply,
  uidListing,
} from "../src/arbitraries";

const reveal = (c: Pop3Command) =>
  Object.fromEntries(Object.entries(c).map(([k, v]) => [k, v instanceof Secret ? v.reveal() : v]));

describe("exported arbitraries", () => {
  it("make commands that pop3-core writes and reads back unchanged", () => {
    fc.assert(
      fc.property(pop3Command, (command) => {
        expect(reveal(parseCommand(serializeCommand(command)))).toEqual(reveal(command));
      }),
    );
  });

  it("make replies, listings and CAPA answers that round-trip", () => {
    fc.assert(
      fc.property(
        statusReply,
        (reply) => void expect(parseStatusLine(serializeStatusLine(reply))).toEqual(reply),
      ),
    );
    fc.assert(
      fc.property(
        scanListing,
        (list) =>
          void expect(list.map((l) => parseScanListing(serializeScanListing(l)))).toEqual(list),
      ),
    );
    fc.assert(
      fc.property(
        uidListing,
        (list) =>
          void expect(list.map((l) => parseUidListing(serializeUidListing(l)))).toEqual(list),
      ),
    );
    fc.assert(
      fc.property(
        capabilityList,
        (caps) => void expect(parseCapabilities(serializeCapabilities(caps)).list).toEqual(caps),
      ),
    );
  });

  it("make messages that survive dot-stuffing with their RFC size", () => {
    fc.assert(
      fc.property(fc.oneof(messageBytes({ maxLength: 500 }), mailMessage), (message) => {
        const decoded = new MultilineDecoder().push(encodeMultiline(message));
        expect(decoded.done).toBe(true);
        expect(decoded.data.reduce((n, d) => n + d.length, 0)).toBe(rfcOctetSize(message));
      }),
    );
  });

  it("produce the hard cases often: leading dots, bare LF, NUL", () => {
    const samples = fc
      .sample(messageBytes({ maxLength: 500 }), 200)
      .map((b) => Buffer.from(b).toString("latin1"));
    expect(samples.some((s) => s.includes("\n."))).toBe(true);
    expect(samples.some((s) => /[^\r]\n/.test(s))).toBe(true);
    expect(samples.some((s) => s.includes("\0"))).toBe(true);
  });
});
