import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { LocalProtocolError, RemoteProtocolError } from "../../src/errors";
import { parseCommand } from "../../src/parse/command";
import { Secret } from "../../src/secret";
import { encodeCommand, redactCommand, serializeCommand } from "../../src/serialize/command";
import { RFC_COMMAND_LIMITS } from "../../src/types/command";
import { ascii, text } from "../helpers";
import { pop3Command, revealed } from "./arbitraries";

describe("parseCommand", () => {
  it("reads the client side of the RFC 1939 §10 example session", () => {
    const lines = [
      "APOP mrose c4c9334bac560ecc979e58001b3e22fb",
      "STAT",
      "LIST",
      "RETR 1",
      "DELE 1",
      "QUIT",
    ];
    expect(lines.map((l) => revealed(parseCommand(ascii(l))))).toEqual([
      { name: "APOP", user: "mrose", digest: "c4c9334bac560ecc979e58001b3e22fb" },
      { name: "STAT" },
      { name: "LIST" },
      { name: "RETR", msg: 1 },
      { name: "DELE", msg: 1 },
      { name: "QUIT" },
    ]);
  });

  it("reads RFC 5034 AUTH forms: bare, mechanism, initial response and `=`", () => {
    expect(revealed(parseCommand("AUTH"))).toEqual({ name: "AUTH" });
    expect(revealed(parseCommand("auth gssapi"))).toEqual({ name: "AUTH", mechanism: "GSSAPI" });
    expect(revealed(parseCommand("AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q="))).toEqual({
      name: "AUTH",
      mechanism: "PLAIN",
      initialResponse: { secret: "dGVzdAB0ZXN0AHRlc3Q=" },
    });
    expect(revealed(parseCommand("AUTH EXTERNAL ="))).toEqual({
      name: "AUTH",
      mechanism: "EXTERNAL",
      initialResponse: { secret: "" },
    });
  });

  it("is case-insensitive in keywords and keeps argument case", () => {
    expect(parseCommand("uSeR Alice")).toEqual({ name: "USER", user: "Alice" });
    expect(parseCommand("top 3 0")).toEqual({ name: "TOP", msg: 3, lines: 0 });
  });

  it("keeps every space of a password and wraps it in a Secret", () => {
    const command = parseCommand("PASS  two  spaces ");
    expect(command.name).toBe("PASS");
    if (command.name !== "PASS") return;
    expect(command.password).toBeInstanceOf(Secret);
    expect(command.password.reveal()).toBe(" two  spaces ");
    expect(JSON.stringify(command)).not.toContain("spaces");
  });

  it("keeps unknown commands as typed values", () => {
    expect(parseCommand("XTND XMIT now")).toEqual({
      name: "UNKNOWN",
      keyword: "XTND",
      args: ["XMIT", "now"],
    });
  });

  it("reads UTF8 and LANG (RFC 6856)", () => {
    expect(parseCommand("UTF8")).toEqual({ name: "UTF8" });
    expect(parseCommand("LANG")).toEqual({ name: "LANG" });
    expect(parseCommand("LANG *")).toEqual({ name: "LANG", tag: "*" });
    expect(parseCommand("LANG de-CH")).toEqual({ name: "LANG", tag: "de-CH" });
  });

  it.each([
    ["", "keyword"],
    ["ST", "keyword"],
    ["STATS", "keyword"],
    ["RETR", "argument"],
    ["RETR 0", "start at 1"],
    ["RETR -1", "decimal"],
    ["RETR 1.5", "decimal"],
    ["RETR 9007199254740992", "range"],
    ["LIST 1 2", "argument"],
    ["STAT now", "argument"],
    ["USER  alice", "one space"],
    ["TOP 1", "argument"],
    ["APOP mrose nothex", "32 hex"],
    ["PASS", "password"],
    ["AUTH PL@IN", "mechanism"],
    ["USER a\0b", "NUL"],
  ])("refuses %j with a RemoteProtocolError about %s", (line, about) => {
    let caught: unknown;
    try {
      parseCommand(ascii(line));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(RemoteProtocolError);
    expect((caught as RemoteProtocolError).message).toContain(about);
  });

  it("enforces the RFC argument and line limits when asked", () => {
    const long = "a".repeat(41);
    expect(() => parseCommand(`USER ${long}`, RFC_COMMAND_LIMITS)).toThrowError(/longer than 40/);
    expect(parseCommand(`USER ${long}`)).toEqual({ name: "USER", user: long });
    expect(() => parseCommand(`XTND ${"a ".repeat(130)}`, RFC_COMMAND_LIMITS)).toThrowError(
      expect.objectContaining({ code: "POP3_LINE_TOO_LONG" }),
    );
  });

  it("lets an AUTH initial response go past the command line limit, up to the SASL limit", () => {
    const token = "QUJD".repeat(500);
    expect(parseCommand(`AUTH XOAUTH2 ${token}`).name).toBe("AUTH");
    expect(() => parseCommand(`AUTH XOAUTH2 ${"QUJD".repeat(5000)}`)).toThrowError(
      expect.objectContaining({ code: "POP3_LINE_TOO_LONG" }),
    );
  });

  it("refuses invalid UTF-8", () => {
    expect(() => parseCommand(Uint8Array.of(0x55, 0x53, 0x45, 0x52, 0x20, 0xff))).toThrowError(
      /UTF-8/,
    );
  });

  test.prop([pop3Command])("parse(serialize(x)) equals x for every command", (command) => {
    expect(revealed(parseCommand(encodeCommand(command).subarray(0, -2)))).toEqual(
      revealed(command),
    );
  });

  test.prop([fc.uint8Array({ maxLength: 300 })])(
    "random bytes give a command or a RemoteProtocolError",
    (bytes) => {
      try {
        parseCommand(bytes);
      } catch (error) {
        expect(error).toBeInstanceOf(RemoteProtocolError);
      }
    },
  );
});

describe("serializeCommand", () => {
  it("writes the wire form with CRLF", () => {
    expect(text(encodeCommand({ name: "TOP", msg: 1, lines: 10 }))).toBe("TOP 1 10\r\n");
    expect(
      serializeCommand({ name: "AUTH", mechanism: "PLAIN", initialResponse: new Secret("") }),
    ).toBe("AUTH PLAIN =");
  });

  it.each([
    ["CR", { name: "USER", user: "a\rb" }],
    ["LF", { name: "USER", user: "a\nQUIT" }],
    ["NUL", { name: "LANG", tag: "a\0" }],
    ["space in a user name", { name: "USER", user: "a b" }],
    ["message number 0", { name: "RETR", msg: 0 }],
    ["fractional number", { name: "DELE", msg: 1.5 }],
    ["negative line count", { name: "TOP", msg: 1, lines: -1 }],
    ["unknown keyword of 5 letters", { name: "UNKNOWN", keyword: "TOOLONG", args: [] }],
    [
      "non-base64 initial response",
      { name: "AUTH", mechanism: "PLAIN", initialResponse: new Secret("a b") },
    ],
  ] as const)("refuses %s with a LocalProtocolError", (_what, command) => {
    expect(() => serializeCommand(command as never)).toThrowError(LocalProtocolError);
  });

  it("refuses CR, LF or NUL in a password without putting the password in the error (CPython #94019)", () => {
    for (const bad of ["hunter2\r\nDELE 1", "hunter2\0", "hunter2\n"]) {
      let caught: unknown;
      try {
        serializeCommand({ name: "PASS", password: new Secret(bad) });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(LocalProtocolError);
      expect(String((caught as Error).message)).not.toContain("hunter2");
    }
  });

  it("redacts secrets for traces", () => {
    expect(redactCommand({ name: "PASS", password: new Secret("hunter2") })).toBe("PASS ***");
    expect(
      redactCommand({ name: "APOP", user: "mrose", digest: "c4c9334bac560ecc979e58001b3e22fb" }),
    ).toBe("APOP mrose ***");
    expect(
      redactCommand({ name: "AUTH", mechanism: "PLAIN", initialResponse: new Secret("AGEAYg==") }),
    ).toBe("AUTH PLAIN ***");
    expect(redactCommand({ name: "USER", user: "bad\r\nuser" })).toBe("USER (unsendable)");
    expect(redactCommand({ name: "RETR", msg: 4 })).toBe("RETR 4");
  });
});
