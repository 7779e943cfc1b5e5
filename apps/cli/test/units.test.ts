import { describe, expect, it } from "vitest";
import { extractUrl } from "../src/argv";
import { parsePop3Url, redactUrl } from "../src/config";
import { MboxrdEncoder } from "../src/fetch/mbox";
import { findNetrcEntry, parseNetrc } from "../src/netrc";
import { makeMessages, random } from "./helpers";

function encode(chunks: readonly Uint8Array[]): string {
  const encoder = new MboxrdEncoder();
  const out: Uint8Array[] = [];
  for (const chunk of chunks) out.push(...encoder.push(chunk));
  out.push(...encoder.end());
  return Buffer.concat(out).toString("latin1");
}

describe("mboxrd encoding", () => {
  it("CRLF → LF and one more > on >*From lines", () => {
    const input = Buffer.from(
      "From x\r\n>From y\r\n>>From z\r\nFrom\r\nFromage\r\n>Fro\r\n bare\rCR\r\n\r\n.\r\nlast",
      "latin1",
    );
    expect(encode([input])).toBe(
      ">From x\n>>From y\n>>>From z\nFrom\nFromage\n>Fro\n bare\rCR\n\n.\nlast\n",
    );
  });

  it("gives the same bytes however the input is cut into chunks", () => {
    const rand = random(99);
    for (const message of makeMessages(5, { seed: 4 })) {
      const whole = encode([message]);
      for (let round = 0; round < 30; round++) {
        const chunks: Uint8Array[] = [];
        for (let i = 0; i < message.length; ) {
          const size = 1 + Math.floor(rand() * (round < 10 ? 3 : 200));
          chunks.push(message.subarray(i, i + size));
          i += size;
        }
        expect(encode(chunks)).toBe(whole);
      }
    }
  });
});

describe("netrc", () => {
  const text = `
# comment
machine mail.example.org login alice password "s3cret word" account x
machine MAIL.example.org login bob password b0b
macdef init
  cd /tmp
  ls

default login anonymous password guest
`;
  it("parses machines, quoted tokens, macdef and default", () => {
    expect(parseNetrc(text)).toEqual([
      { machine: "mail.example.org", login: "alice", password: "s3cret word", account: "x" },
      { machine: "MAIL.example.org", login: "bob", password: "b0b" },
      { machine: undefined, login: "anonymous", password: "guest" },
    ]);
  });

  it("finds the entry for a host and user; default only for unknown hosts", () => {
    const entries = parseNetrc(text);
    expect(findNetrcEntry(entries, "mail.example.org", undefined)?.login).toBe("alice");
    expect(findNetrcEntry(entries, "mail.example.org", "bob")?.password).toBe("b0b");
    expect(findNetrcEntry(entries, "mail.example.org", "carol")).toBeUndefined();
    expect(findNetrcEntry(entries, "other.example.org", undefined)?.login).toBe("anonymous");
  });
});

describe("URLs", () => {
  it("pop3:// and pop3s://, ports, user and password, IPv6", () => {
    expect(parsePop3Url("pop3://al%40ice:p%3Aw@Mail.Example.org:1110", "x")).toEqual({
      tls: "starttls",
      port: "1110",
      host: "mail.example.org",
      user: "al@ice",
      password: "p:w",
    });
    expect(parsePop3Url("pop3s://[::1]", "x")).toEqual({
      tls: "implicit",
      port: "995",
      host: "::1",
    });
    expect(() => parsePop3Url("imap://x", "x")).toThrow(/pop3:\/\//);
    expect(() => parsePop3Url("pop3://x/INBOX", "x")).toThrow(/no path/);
  });

  it("never shows a password in messages", () => {
    expect(redactUrl("pop3://alice:secret@host")).toBe("pop3://alice:***@host");
  });

  it("is picked out of the arguments anywhere, but not as the value of --url", () => {
    expect(extractUrl(["stat", "pop3://h", "--json"])).toEqual({
      argv: ["stat", "--json"],
      url: "pop3://h",
    });
    expect(extractUrl(["--url", "pop3://h", "stat"])).toEqual({
      argv: ["--url", "pop3://h", "stat"],
      url: undefined,
    });
    expect(() => extractUrl(["pop3://a", "pop3://b"])).toThrow(/more than one URL/);
  });
});
