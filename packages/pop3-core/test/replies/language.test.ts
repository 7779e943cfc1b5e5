import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { parseLanguageListing } from "../../src/parse/language";
import { serializeLanguageListing } from "../../src/serialize/language";
import { type ClientEvent, ClientSession } from "../../src/session/client-session";
import { ServerSession } from "../../src/session/server-session";
import { NEED_DATA, PAUSED } from "../../src/session/signals";
import { concat, splitAt } from "../helpers";
import { arbLanguageListing, arbLanguageTag, arbLineText } from "./arbitraries";
import { expectBadArgument, expectProtocolError, expectValueOrProtocolError } from "./helpers";

const encoder = new TextEncoder();
const strict = new TextDecoder("utf-8", { fatal: true });

describe("parseLanguageListing", () => {
  it("reads the lines of RFC 6856's LANG example", () => {
    expect(parseLanguageListing("en English")).toStrictEqual({ tag: "en", description: "English" });
    expect(parseLanguageListing("en-boont English Boontling dialect")).toStrictEqual({
      tag: "en-boont",
      description: "English Boontling dialect",
    });
    expect(parseLanguageListing("es Español")).toStrictEqual({ tag: "es", description: "Español" });
  });

  it("gives an empty description for a tag alone, with or without the space", () => {
    expect(parseLanguageListing("de")).toStrictEqual({ tag: "de", description: "" });
    expect(parseLanguageListing("de ")).toStrictEqual({ tag: "de", description: "" });
  });

  it("keeps the description verbatim after the one space, and the tag's case", () => {
    expect(parseLanguageListing("ZH-Hant  繁體中文 ")).toStrictEqual({
      tag: "ZH-Hant",
      description: " 繁體中文 ",
    });
    expect(parseLanguageListing("x-klingon tlhIngan\tHol")).toStrictEqual({
      tag: "x-klingon",
      description: "tlhIngan\tHol",
    });
  });

  it("rejects a line that does not start with a language tag", () => {
    for (const line of [
      "",
      " en English",
      "en\tEnglish",
      "en- English",
      "-en",
      "en--GB",
      "1en",
      "toolonglang",
      "en-toolongsub",
      "*",
      "en_GB British",
      "é French",
      "en\u00a0English",
      "en\0",
      "en \r\n",
    ]) {
      expectProtocolError(() => parseLanguageListing(line));
    }
  });

  test.prop([arbLanguageTag, fc.option(arbLineText(40), { nil: undefined })])(
    "reads any tag and any description: one space, then everything to the end of the line",
    (tag, description) => {
      const line = description === undefined ? tag : `${tag} ${description}`;
      expect(parseLanguageListing(line)).toStrictEqual({ tag, description: description ?? "" });
    },
  );

  test.prop([arbLineText(60)])("gives a listing or a POP3_PROTOCOL error for any line", (line) => {
    expectValueOrProtocolError(() => parseLanguageListing(line));
  });
});

describe("serializeLanguageListing", () => {
  it("writes the tag, then a space and the description when there is one", () => {
    expect(serializeLanguageListing({ tag: "en", description: "English" })).toBe("en English");
    expect(serializeLanguageListing({ tag: "sv", description: "" })).toBe("sv");
    expect(serializeLanguageListing({ tag: "ja", description: " 日本語" })).toBe("ja  日本語");
  });

  it("refuses what a client could not read back", () => {
    for (const tag of ["", "en GB", "en_GB", "-en", "en-", "1x", "abcdefghi", "é", "*", "en\r\n"]) {
      expectBadArgument(() => serializeLanguageListing({ tag, description: "x" }));
    }
    for (const description of ["a\r\n.", "a\rb", "a\nb", "a\0", "\ud800", "x\udc00y"]) {
      expectBadArgument(() => serializeLanguageListing({ tag: "en", description }));
    }
  });

  test.prop([arbLanguageListing])(
    "a listing comes back equal through its UTF-8 bytes",
    (listing) => {
      const bytes = encoder.encode(serializeLanguageListing(listing));
      expect(parseLanguageListing(strict.decode(bytes))).toStrictEqual(listing);
    },
  );

  /** Pairs that are equal, share the tag only, share the description only, or differ. */
  const arbPair = fc
    .tuple(arbLanguageListing, arbLanguageListing)
    .chain(([a, b]) =>
      fc.constantFrom(
        [a, { ...a }],
        [a, { tag: a.tag, description: b.description }],
        [a, { tag: b.tag, description: a.description }],
        [a, b],
      ),
    );

  test.prop([arbPair])("two listings give the same line only when they are equal", ([a, b]) => {
    const same = a.tag === b.tag && a.description === b.description;
    expect(serializeLanguageListing(a) === serializeLanguageListing(b)).toBe(same);
  });

  test.prop([arbLanguageTag, fc.option(arbLineText(40), { nil: undefined })])(
    "rewrites a received line as it was, except a space with nothing after it, which meant nothing",
    (tag, description) => {
      const line = description === undefined ? tag : `${tag} ${description}`;
      const expected = description === "" ? tag : line;
      expect(serializeLanguageListing(parseLanguageListing(line))).toBe(expected);
    },
  );
});

/** Answers the client's bare LANG with `listings`, as a server would. */
function serveLang(server: ServerSession, listings: readonly string[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let e = server.nextEvent(); e !== NEED_DATA && e !== PAUSED; e = server.nextEvent()) {
    if (e.type === "command" && e.command.name === "LANG" && e.command.tag === undefined) {
      out.push(server.sendLines({ ok: true, text: "Language listing follows" }, listings));
    } else {
      out.push(server.sendReply({ ok: false, text: "no" }));
    }
  }
  return out;
}

describe("LANG listings between the sessions", () => {
  test.prop([
    fc.array(arbLanguageListing, { maxLength: 6 }),
    fc.array(fc.nat({ max: 600 }), { maxLength: 20 }),
  ])(
    "arrive equal however the bytes are cut, also inside a multi-octet character",
    (listings, cuts) => {
      const server = new ServerSession();
      const client = new ClientSession();
      client.receiveData(server.greet({ ok: true, text: "hi" }));
      client.nextEvent();
      server.receiveData(client.send({ name: "LANG" }));
      const wire = concat(serveLang(server, listings.map(serializeLanguageListing)));
      const events: ClientEvent[] = [];
      for (const part of splitAt(wire, cuts)) {
        client.receiveData(part);
        for (let e = client.nextEvent(); e !== NEED_DATA; e = client.nextEvent()) events.push(e);
      }
      expect(events).toHaveLength(1);
      const [listing] = events;
      if (listing?.type !== "listing") throw new Error(`expected a listing, got ${listing?.type}`);
      expect(listing.lines.map(parseLanguageListing)).toStrictEqual(listings);
    },
  );
});
