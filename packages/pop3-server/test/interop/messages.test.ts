/**
 * Checks the fixtures the interop tests rely on, so a wrong expectation cannot make a peer test
 * pass or fail for the wrong reason. Needs no external tool.
 */
import { describe, expect, it } from "vitest";
import { EDGE_MESSAGES, wireForm } from "../support";
import {
  BIG_MESSAGE_SIZE,
  bigMessage,
  byteDifference,
  crlfToLf,
  interopMessages,
  topForm,
} from "./peers";

describe("interop fixtures", () => {
  it("the 30 MB message is realistic mail in wire form with every dot case", () => {
    const big = bigMessage();
    expect(big.length).toBeGreaterThan(BIG_MESSAGE_SIZE - 200);
    expect(big.length).toBeLessThanOrEqual(BIG_MESSAGE_SIZE);
    // Already wire form: wireForm changes nothing, so it is the expected bytes as it is.
    expect(byteDifference(wireForm(big), big)).toBeUndefined();
    const text = big.toString("latin1");
    expect(text).not.toMatch(/[^\r]\n|\r[^\n]/);
    expect(text.endsWith("\r\n.\r\n")).toBe(true);
    const lines = text.slice(0, -2).split("\r\n");
    expect(lines.filter((l) => l.length > 76)).toEqual([]);
    expect(lines.filter((l) => l === ".").length).toBeGreaterThan(100);
    expect(lines.filter((l) => l === "..").length).toBeGreaterThan(100);
    expect(lines.filter((l) => /^\.[a-z]/.test(l)).length).toBeGreaterThan(1000);
    expect(lines.filter((l) => /^\.\.[a-z]/.test(l)).length).toBeGreaterThan(1000);
    expect(lines.indexOf("")).toBe(11);
    expect(lines.slice(0, 11).every((l) => /^([A-Z][A-Za-z-]+: |\t)/.test(l))).toBe(true);
    expect(byteDifference(bigMessage(), big)).toBeUndefined();
    // Seconds of work on 30 MB (13 s seen on a loaded machine before bigMessage got faster): the
    // timeout is only there to catch a hang.
  }, 300_000);

  it("the message set is EDGE_MESSAGES then the big one, expected = wireForm(stored)", () => {
    const messages = interopMessages();
    expect(messages.map((m) => m.name)).toEqual([...Object.keys(EDGE_MESSAGES), "big30MB"]);
    for (const m of messages.slice(0, -1)) {
      expect(byteDifference(m.expected, wireForm(m.stored)), m.name).toBeUndefined();
    }
    expect(messages.find((m) => m.name === "empty")?.expected.length).toBe(0);
  }, 300_000);

  it("topForm cuts after the header, the blank line and n lines", () => {
    const dots = wireForm(EDGE_MESSAGES["dotLines"] as Uint8Array);
    expect(topForm(dots, 0).toString()).toBe("Subject: dots\r\n\r\n");
    expect(topForm(dots, 2).toString()).toBe("Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n");
    expect(topForm(dots, 100)).toEqual(dots);
    expect(topForm(Buffer.from("A: b\r\nno blank line\r\n"), 0).toString()).toBe(
      "A: b\r\nno blank line\r\n",
    );
    expect(topForm(new Uint8Array(0), 3).length).toBe(0);
  });

  it("byteDifference and crlfToLf are exact", () => {
    expect(byteDifference(Buffer.from("abc"), Buffer.from("abc"))).toBeUndefined();
    expect(byteDifference(Buffer.from("a.c"), Buffer.from("a..c"))).toMatch(
      /got 3 bytes, expected 4; first difference at offset 2/,
    );
    expect(byteDifference(Buffer.from("ab"), Buffer.from("ab\r\n"))).toBeDefined();
    expect(crlfToLf(Buffer.from("a\r\n\r\n.\r\n")).toString()).toBe("a\n\n.\n");
  });
});
