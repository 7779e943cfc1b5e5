import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { isContinuationLine, parseContinuation } from "../../src/parse/sasl";
import { parseStatusLine } from "../../src/parse/status";
import { serializeContinuation } from "../../src/serialize/sasl";
import { arbReplyNoise } from "./arbitraries";
import { expectBadArgument, expectProtocolError, expectValueOrProtocolError } from "./helpers";

/** The CRAM-MD5 challenge of RFC 2195 §2, base64-encoded. */
const CRAM_CHALLENGE = "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+";

describe("parseContinuation", () => {
  it("returns the base64 text after '+ '", () => {
    expect(parseContinuation(`+ ${CRAM_CHALLENGE}`)).toBe(CRAM_CHALLENGE);
    expect(parseContinuation("+ VXNlcm5hbWU6")).toBe("VXNlcm5hbWU6");
  });

  it("reads an empty challenge as '+ ' (RFC 5034) and as a bare '+'", () => {
    expect(parseContinuation("+ ")).toBe("");
    expect(parseContinuation("+")).toBe("");
  });

  it("leaves the text as sent, for the SASL layer to decode", () => {
    expect(parseContinuation("+  x= ")).toBe(" x= ");
    expect(parseContinuation("+ not base64!")).toBe("not base64!");
  });

  it("rejects status lines and anything else", () => {
    for (const line of ["+OK", "+OK ready", "-ERR no", "", "+x", "++ a", " + a", "+\ta", "- a"]) {
      expectProtocolError(() => parseContinuation(line));
    }
  });

  it("rejects CR, LF and NUL", () => {
    expectProtocolError(() => parseContinuation("+ abc\r"));
    expectProtocolError(() => parseContinuation("+ ab\ncd"));
    expectProtocolError(() => parseContinuation("+ \0"));
  });

  test.prop([arbReplyNoise])("never throws anything but RemoteProtocolError", (line) => {
    expectValueOrProtocolError(() => parseContinuation(line));
  });

  test.prop([arbReplyNoise.filter((line) => !/[\r\n\0]/.test(line))])(
    "isContinuationLine tells continuations and status lines apart",
    (line) => {
      let continuation = true;
      try {
        parseContinuation(line);
      } catch {
        continuation = false;
      }
      expect(isContinuationLine(line)).toBe(continuation);
      if (continuation) expectProtocolError(() => parseStatusLine(line));
    },
  );
});

describe("isContinuationLine", () => {
  it("knows continuations from status lines", () => {
    expect(isContinuationLine("+ ")).toBe(true);
    expect(isContinuationLine("+")).toBe(true);
    expect(isContinuationLine(`+ ${CRAM_CHALLENGE}`)).toBe(true);
    expect(isContinuationLine("+OK")).toBe(false);
    expect(isContinuationLine("+OK ")).toBe(false);
    expect(isContinuationLine("-ERR")).toBe(false);
    expect(isContinuationLine("")).toBe(false);
  });
});

describe("serializeContinuation", () => {
  it("writes '+ ' and the challenge", () => {
    expect(serializeContinuation(CRAM_CHALLENGE)).toBe(`+ ${CRAM_CHALLENGE}`);
    expect(serializeContinuation("")).toBe("+ ");
    expect(serializeContinuation("YQ==")).toBe("+ YQ==");
    expect(serializeContinuation("YWI=")).toBe("+ YWI=");
  });

  it("rejects text that is not padded base64", () => {
    for (const text of [
      "abc",
      "YQ",
      "Y===",
      "====",
      "ab=c",
      "YW I=",
      "YWI=\r\n",
      "YWI=\0",
      "YWJj-_8=",
    ]) {
      expectBadArgument(() => serializeContinuation(text));
    }
  });

  test.prop([fc.uint8Array({ maxLength: 300 })])(
    "parseContinuation(serializeContinuation(x)) equals x for any base64",
    (bytes) => {
      const base64 = Buffer.from(bytes).toString("base64");
      expect(parseContinuation(serializeContinuation(base64))).toBe(base64);
    },
  );
});
