import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import {
  authCommand,
  decodeBase64Strict,
  initialResponseFits,
  MAX_INITIAL_RESPONSE_LINE,
  plainClient,
  xoauth2Client,
} from "../../src/sasl";
import { Secret } from "../../src/secret";
import { encodeCommand } from "../../src/serialize/command";
import { arbSaslMechanism } from "../replies/arbitraries";

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/** The octets on the wire, CRLF included, of AUTH with `initialResponse` on the line. */
function lineOctets(mechanism: string, initialResponse: Uint8Array): number {
  const base64 = Buffer.from(initialResponse).toString("base64");
  return encodeCommand({ name: "AUTH", mechanism, initialResponse: new Secret(base64) }).length;
}

/**
 * A user name of multi-octet characters (€ is 3 octets, ü 2) and ASCII whose PLAIN message
 * (NUL user NUL password) puts `AUTH mechanism` at exactly `target` octets.
 */
function userFor(mechanism: string, password: string, target: number): string {
  // AUTH SP mechanism SP base64 CRLF: base64 comes in groups of 4 for each 3 octets.
  const groups = (target - "AUTH ".length - mechanism.length - 1 - 2) / 4;
  expect(
    Number.isInteger(groups),
    `no PLAIN message gives ${target} octets with ${mechanism}`,
  ).toBe(true);
  const userOctets = groups * 3 - 2 - utf8(password).length;
  const euros = Math.floor(userOctets / 3) - 1;
  const rest = userOctets - euros * 3;
  return `${"€".repeat(euros)}${rest >= 2 ? "ü" : ""}${"a".repeat(rest % 2)}`;
}

describe("the RFC 5034 §4 limit on the initial response", () => {
  it("is 255 octets with CRLF", () => {
    expect(MAX_INITIAL_RESPONSE_LINE).toBe(255);
  });

  it.each([
    ["X-SASL", 254, true],
    ["X-SASL7", 255, true],
    ["X-SASL-1", 256, false],
  ] as const)(
    "AUTH %s with a PLAIN message of a multi-byte user name: %i octets, fits: %s",
    (mechanism, target, fits) => {
      const password = "pässwörd";
      const user = userFor(mechanism, password, target);
      // Counting characters instead of octets would get this wrong by far.
      expect(utf8(user).length - user.length).toBeGreaterThan(100);
      const response = plainClient({ username: user, password: new Secret(password) });
      const initial = response.initialResponse() ?? new Uint8Array();
      expect(lineOctets(mechanism, initial)).toBe(target);
      expect(initialResponseFits(mechanism, initial)).toBe(fits);
      const command = authCommand(mechanism, initial);
      if (fits) {
        expect(encodeCommand(command).length).toBe(target);
        expect(decodeBase64Strict(command.initialResponse?.reveal() ?? "")).toEqual(initial);
      } else {
        expect(command).toStrictEqual({ name: "AUTH", mechanism });
      }
    },
  );

  it("takes PLAIN to 253 octets and no further: the next 4 base64 characters make 257", () => {
    const password = "secret";
    // 85 characters, 170 octets; 3 octets more add a group of 4 base64 characters.
    for (const [user, fits] of [
      ["Ω".repeat(85), true],
      [`${"Ω".repeat(85)}€`, false],
    ] as const) {
      const initial = plainClient({
        username: user,
        password: new Secret(password),
      }).initialResponse() as Uint8Array;
      const octets = lineOctets("PLAIN", initial);
      expect(octets).toBe(fits ? 253 : 257);
      expect(initialResponseFits("PLAIN", initial)).toBe(fits);
      expect(authCommand("PLAIN", initial).initialResponse !== undefined).toBe(fits);
    }
  });

  it("takes XOAUTH2 to exactly 255 octets with a UTF-8 user name", () => {
    const token = new Secret("ya29.token-0123456789");
    const make = (user: string) => xoauth2Client({ username: user, token }).initialResponse();
    // user=…^Aauth=Bearer ya29.token-0123456789^A^A is the user name's octets + 41.
    const fits = make(`${"ß".repeat(69)}x`) as Uint8Array;
    expect(lineOctets("XOAUTH2", fits)).toBe(255);
    expect(initialResponseFits("XOAUTH2", fits)).toBe(true);
    const over = make("ß".repeat(71)) as Uint8Array;
    expect(lineOctets("XOAUTH2", over)).toBe(259);
    expect(authCommand("XOAUTH2", over)).toStrictEqual({ name: "AUTH", mechanism: "XOAUTH2" });
  });

  it("counts an empty initial response as the one octet of '='", () => {
    expect(encodeCommand(authCommand("PLAIN", new Uint8Array())).length).toBe(14);
    expect(initialResponseFits("A".repeat(246), new Uint8Array())).toBe(true);
    expect(initialResponseFits("A".repeat(247), new Uint8Array())).toBe(false);
  });

  it("leaves out an initial response the mechanism does not have", () => {
    expect(authCommand("CRAM-MD5")).toStrictEqual({ name: "AUTH", mechanism: "CRAM-MD5" });
  });

  test.prop([arbSaslMechanism, fc.uint8Array({ maxLength: 260 })])(
    "fits exactly when the AUTH line core writes is at most 255 octets",
    (mechanism, initial) => {
      const octets = lineOctets(mechanism, initial);
      expect(initialResponseFits(mechanism, initial)).toBe(octets <= 255);
      const command = authCommand(mechanism, initial);
      expect(command.mechanism).toBe(mechanism);
      if (octets <= 255) {
        expect(decodeBase64Strict(command.initialResponse?.reveal() ?? "")).toEqual(initial);
      } else {
        expect(command.initialResponse).toBeUndefined();
      }
    },
  );
});
