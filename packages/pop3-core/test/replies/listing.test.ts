import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { LocalProtocolError } from "../../src/errors";
import {
  MAX_UID_LENGTH,
  parseDropListing,
  parseScanListing,
  parseUidListing,
} from "../../src/parse/listing";
import {
  serializeDropListing,
  serializeScanListing,
  serializeUidListing,
} from "../../src/serialize/listing";
import {
  arbDropListing,
  arbReplyNoise,
  arbScanListing,
  arbUid,
  arbUidListing,
  PRINTABLE_ASCII,
} from "./arbitraries";
import {
  expectBadArgument,
  expectProtocolError,
  expectValueOrProtocolError,
  thrown,
} from "./helpers";

const MAX = Number.MAX_SAFE_INTEGER;

describe("parseDropListing", () => {
  it("reads the RFC 1939 STAT example", () => {
    expect(parseDropListing("2 320")).toStrictEqual({ count: 2, size: 320 });
  });

  it("accepts an empty maildrop and the largest safe numbers", () => {
    expect(parseDropListing("0 0")).toStrictEqual({ count: 0, size: 0 });
    expect(parseDropListing(`${MAX} ${MAX}`)).toStrictEqual({ count: MAX, size: MAX });
  });

  it("ignores a space and anything after the size", () => {
    expect(parseDropListing("2 320 messages in maildrop")).toStrictEqual({ count: 2, size: 320 });
    expect(parseDropListing("2 320 ")).toStrictEqual({ count: 2, size: 320 });
  });

  it("accepts leading zeros", () => {
    expect(parseDropListing("007 0320")).toStrictEqual({ count: 7, size: 320 });
  });

  it("rejects anything but two decimal numbers separated by one space", () => {
    for (const text of [
      "",
      "2",
      "2 ",
      " 2 320",
      "2  320",
      "2\t320",
      "2 320x",
      "-2 320",
      "2 -320",
      "+2 320",
      "2.0 320",
      "1e3 5",
      "0x10 5",
      "２ 320",
      "two 320",
      "2 messages (320 octets)",
      `${MAX + 1} 0`,
      `0 ${"9".repeat(400)}`,
    ]) {
      expectProtocolError(() => parseDropListing(text));
    }
  });
});

describe("parseScanListing", () => {
  it("reads the RFC 1939 LIST examples", () => {
    expect(parseScanListing("1 120")).toStrictEqual({ msg: 1, size: 120 });
    expect(parseScanListing("2 200")).toStrictEqual({ msg: 2, size: 200 });
  });

  it("accepts size 0 and ignores trailing text after a space", () => {
    expect(parseScanListing("3 0")).toStrictEqual({ msg: 3, size: 0 });
    expect(parseScanListing("3 99 From: someone")).toStrictEqual({ msg: 3, size: 99 });
  });

  it("rejects message number 0 and malformed lines", () => {
    for (const line of [
      "0 120",
      "00 1",
      "1",
      "1 ",
      "1 x",
      "1  120",
      "a 1",
      "-1 5",
      `${MAX + 1} 1`,
    ]) {
      expectProtocolError(() => parseScanListing(line));
    }
  });

  it("quotes at most the first 80 characters", () => {
    const line = `1 ${"x".repeat(300)}`;
    const message = expectProtocolError(() => parseScanListing(line));
    expect(message).toContain(line.slice(0, 80));
    expect(message).not.toContain(line.slice(0, 81));
  });
});

describe("parseUidListing", () => {
  it("reads the RFC 1939 UIDL examples", () => {
    expect(parseUidListing("1 whqtswO00WBw418f9t5JxYwZ")).toStrictEqual({
      msg: 1,
      uid: "whqtswO00WBw418f9t5JxYwZ",
    });
    expect(parseUidListing("2 QhdPYR:00WBw1Ph7x7")).toStrictEqual({
      msg: 2,
      uid: "QhdPYR:00WBw1Ph7x7",
    });
  });

  it("accepts every printable ASCII character and exactly 70 of them", () => {
    const all = PRINTABLE_ASCII.join("");
    expect(parseUidListing(`1 ${all.slice(0, 70)}`).uid).toBe(all.slice(0, 70));
    expect(parseUidListing(`1 ${all.slice(24)}`).uid).toBe(all.slice(24));
    expect(MAX_UID_LENGTH).toBe(70);
  });

  it("rejects 71 characters unless told to accept longer ids", () => {
    const line = `5 ${"u".repeat(71)}`;
    expect(expectProtocolError(() => parseUidListing(line))).toMatch(/longer than 70/);
    expect(parseUidListing(line, { maxUidLength: 100 })).toStrictEqual({
      msg: 5,
      uid: "u".repeat(71),
    });
    expectProtocolError(() => parseUidListing(`5 ${"u".repeat(101)}`, { maxUidLength: 100 }));
    expectProtocolError(() => parseUidListing("5 abc", { maxUidLength: 2 }));
  });

  it("rejects text after the uid, bad characters and bad numbers", () => {
    for (const line of [
      "1 abc def",
      "1 abc ",
      "1  abc",
      "1",
      "1 ",
      "0 abc",
      "x abc",
      "-1 abc",
      "1\tabc",
      "1 ab\u007f",
      "1 äbc",
      "1 ab\tc",
      `${MAX + 1} abc`,
      "1 ab\r",
    ]) {
      expectProtocolError(() => parseUidListing(line));
    }
  });

  it("rejects a maxUidLength that is not a positive integer", () => {
    for (const maxUidLength of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      const error = thrown(() => parseUidListing("1 a", { maxUidLength }));
      expect(error).toBeInstanceOf(LocalProtocolError);
      expect((error as LocalProtocolError).code).toBe("POP3_BAD_ARGUMENT");
    }
  });
});

describe("listing parsers on noise", () => {
  test.prop([arbReplyNoise])("never throw anything but RemoteProtocolError", (line) => {
    expectValueOrProtocolError(() => parseDropListing(line));
    expectValueOrProtocolError(() => parseScanListing(line));
    expectValueOrProtocolError(() => parseUidListing(line));
  });

  test.prop([fc.nat(), fc.nat(), fc.string({ unit: "binary", maxLength: 30 })])(
    "accept two numbers followed by a space and anything",
    (a, b, tail) => {
      fc.pre(!/[\r\n\0]/.test(tail));
      expect(parseDropListing(`${a} ${b} ${tail}`)).toStrictEqual({ count: a, size: b });
      expect(parseScanListing(`${a + 1} ${b} ${tail}`)).toStrictEqual({ msg: a + 1, size: b });
    },
  );
});

describe("listing serializers", () => {
  it("write the RFC 1939 examples", () => {
    expect(serializeDropListing({ count: 2, size: 320 })).toBe("2 320");
    expect(serializeScanListing({ msg: 1, size: 120 })).toBe("1 120");
    expect(serializeUidListing({ msg: 2, uid: "QhdPYR:00WBw1Ph7x7" })).toBe("2 QhdPYR:00WBw1Ph7x7");
    expect(serializeDropListing({ count: 0, size: 0 })).toBe("0 0");
    expect(serializeScanListing({ msg: MAX, size: MAX })).toBe(`${MAX} ${MAX}`);
  });

  it("reject numbers that cannot be sent", () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, MAX + 1, 1e21]) {
      expectBadArgument(() => serializeDropListing({ count: bad, size: 1 }));
      expectBadArgument(() => serializeDropListing({ count: 1, size: bad }));
      expectBadArgument(() => serializeScanListing({ msg: bad, size: 1 }));
      expectBadArgument(() => serializeScanListing({ msg: 1, size: bad }));
      expectBadArgument(() => serializeUidListing({ msg: bad, uid: "a" }));
    }
  });

  it("reject message number 0", () => {
    expectBadArgument(() => serializeScanListing({ msg: 0, size: 1 }));
    expectBadArgument(() => serializeUidListing({ msg: 0, uid: "a" }));
  });

  it("reject uids outside 1-70 characters of 0x21-0x7E", () => {
    for (const uid of ["", "u".repeat(71), "a b", "a\tb", "ä", "a\r\nb", "a\u007f", "a\0"]) {
      expectBadArgument(() => serializeUidListing({ msg: 1, uid }));
    }
    expect(serializeUidListing({ msg: 1, uid: "u".repeat(70) })).toBe(`1 ${"u".repeat(70)}`);
  });

  test.prop([arbDropListing])("parseDropListing(serializeDropListing(x)) equals x", (listing) => {
    expect(parseDropListing(serializeDropListing(listing))).toStrictEqual(listing);
  });

  test.prop([arbScanListing])("parseScanListing(serializeScanListing(x)) equals x", (listing) => {
    expect(parseScanListing(serializeScanListing(listing))).toStrictEqual(listing);
  });

  test.prop([arbUidListing])("parseUidListing(serializeUidListing(x)) equals x", (listing) => {
    expect(parseUidListing(serializeUidListing(listing))).toStrictEqual(listing);
  });

  test.prop([arbUid, fc.string({ unit: "binary", minLength: 1, maxLength: 1 })])(
    "a uid with any character outside 0x21-0x7E is refused both ways",
    (uid, char) => {
      fc.pre(!/^[\x21-\x7e]$/.test(char));
      const bad = uid.slice(0, 69) + char;
      expectBadArgument(() => serializeUidListing({ msg: 1, uid: bad }));
      expectProtocolError(() => parseUidListing(`1 ${bad}`));
    },
  );
});
