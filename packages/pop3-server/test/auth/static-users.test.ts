import {
  apopDigest,
  cramMd5Client,
  createSaslServerExchange,
  Secret,
  verifyApopDigest,
  verifyCramMd5,
} from "pop3-core";
import { describe, expect, it } from "vitest";
import { staticUsers } from "../../src/auth/index";
import { ConfigError } from "../../src/errors";
import { context, expectNoLeak } from "./leak";

const users = { alice: "wonderland", bob: { password: "builder-42" }, ünï: "pässwörd✓" };

describe("staticUsers verifyPassword", () => {
  const auth = staticUsers(users);

  it("accepts the right password and returns the canonical user", async () => {
    await expect(auth.verifyPassword("alice", new Secret("wonderland"), context)).resolves.toEqual({
      ok: true,
      user: "alice",
    });
    await expect(auth.verifyPassword("bob", new Secret("builder-42"), context)).resolves.toEqual({
      ok: true,
      user: "bob",
    });
    await expect(auth.verifyPassword("ünï", new Secret("pässwörd✓"), context)).resolves.toEqual({
      ok: true,
      user: "ünï",
    });
  });

  it("rejects wrong passwords, prefixes, extensions and other users' passwords", async () => {
    for (const wrong of ["wonderlanD", "wonderlan", "wonderland!", "", "builder-42"]) {
      await expect(auth.verifyPassword("alice", new Secret(wrong), context)).resolves.toEqual({
        ok: false,
      });
    }
  });

  it("rejects unknown users, even with a known password", async () => {
    await expect(auth.verifyPassword("carol", new Secret("wonderland"), context)).resolves.toEqual({
      ok: false,
    });
    await expect(auth.verifyPassword("", new Secret("wonderland"), context)).resolves.toEqual({
      ok: false,
    });
    // Not fooled by Object.prototype.
    await expect(
      auth.verifyPassword("constructor", new Secret("[object Object]"), context),
    ).resolves.toEqual({ ok: false });
  });

  it("is case-sensitive by default", async () => {
    await expect(auth.verifyPassword("ALICE", new Secret("wonderland"), context)).resolves.toEqual({
      ok: false,
    });
  });

  it("folds case with caseInsensitive and returns the name as configured", async () => {
    const folded = staticUsers({ Alice: "wonderland" }, { caseInsensitive: true });
    await expect(
      folded.verifyPassword("aLiCe", new Secret("wonderland"), context),
    ).resolves.toEqual({ ok: true, user: "Alice" });
    await expect(
      folded.verifyPassword("alice", new Secret("Wonderland"), context),
    ).resolves.toEqual({ ok: false });
    // The shared secret can not carry the canonical name, so it needs the exact one.
    await expect(folded.getSharedSecret?.("alice", context)).resolves.toBeUndefined();
    expect((await folded.getSharedSecret?.("Alice", context))?.reveal()).toBe("wonderland");
  });
});

describe("staticUsers configuration", () => {
  it("rejects keys that differ only in case when folding", () => {
    expect(() =>
      staticUsers({ alice: "one-pass", ALICE: "two-pass" }, { caseInsensitive: true }),
    ).toThrow(ConfigError);
    expect(() => staticUsers({ alice: "one-pass", ALICE: "two-pass" })).not.toThrow();
  });

  it.each([
    ["empty password", { alice: "" }],
    ["password of the wrong type", { alice: 42 as unknown as string }],
    ["object without password", { alice: {} as { password: string } }],
    ["empty user name", { "": "secret-pass" }],
    ["user name with a colon", { "a:b": "secret-pass" }],
    ["user name with a space", { "a b": "secret-pass" }],
    ["user name with a control character", { "a\u0000b": "secret-pass" }],
  ])("rejects %s with a ConfigError that does not show the password", (_name, map) => {
    let error: unknown;
    try {
      staticUsers(map);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe("POP3_CONFIG");
    expectNoLeak(error, ["secret-pass"]);
  });
});

describe("staticUsers shared secrets", () => {
  const auth = staticUsers(users);

  it("gives the password as a Secret, and nothing for unknown users", async () => {
    const secret = await auth.getSharedSecret?.("alice", context);
    expect(secret).toBeInstanceOf(Secret);
    expect(secret?.reveal()).toBe("wonderland");
    expect((await auth.getSharedSecret?.("bob", context))?.reveal()).toBe("builder-42");
    await expect(auth.getSharedSecret?.("carol", context)).resolves.toBeUndefined();
    await expect(auth.getSharedSecret?.("toString", context)).resolves.toBeUndefined();
  });

  it("works for APOP", async () => {
    const timestamp = "<1896.697170952@dbc.mtview.ca.us>";
    const secret = await auth.getSharedSecret?.("alice", context);
    if (secret === undefined) throw new Error("no shared secret");
    expect(verifyApopDigest(timestamp, secret, apopDigest(timestamp, "wonderland"))).toBe(true);
    expect(verifyApopDigest(timestamp, secret, apopDigest(timestamp, "wonderlanD"))).toBe(false);
    expect(verifyApopDigest("<other@host>", secret, apopDigest(timestamp, "wonderland"))).toBe(
      false,
    );
  });

  async function cramMd5(password: string): Promise<boolean> {
    const client = cramMd5Client({ username: "bob", password: new Secret(password) });
    const exchange = createSaslServerExchange("CRAM-MD5", {
      cramMd5Challenge: "<4711.1700000000@pop.example>",
    });
    if (exchange === undefined) throw new Error("no CRAM-MD5 exchange");
    const first = exchange.start(client.initialResponse());
    if (first.type !== "challenge") throw new Error(`expected a challenge, got ${first.type}`);
    const last = exchange.step(client.respond(first.challenge));
    if (last.type !== "done" || last.credentials.mechanism !== "CRAM-MD5") {
      throw new Error("expected finished CRAM-MD5 credentials");
    }
    expect(last.credentials.username).toBe("bob");
    const secret = await auth.getSharedSecret?.(last.credentials.username, context);
    if (secret === undefined) throw new Error("no shared secret");
    return verifyCramMd5(last.credentials, secret);
  }

  it("works for CRAM-MD5", async () => {
    await expect(cramMd5("builder-42")).resolves.toBe(true);
    await expect(cramMd5("builder-43")).resolves.toBe(false);
  });
});

describe("staticUsers does not leak passwords", () => {
  it("keeps them out of inspect, JSON and results", async () => {
    const auth = staticUsers(users);
    expectNoLeak(auth, ["wonderland", "builder-42", "pässwörd✓"]);
    expectNoLeak(await auth.getSharedSecret?.("alice", context), ["wonderland"]);
    expectNoLeak(await auth.verifyPassword("alice", new Secret("wonderland"), context), [
      "wonderland",
    ]);
  });

  it("the leak check itself catches a plain password", () => {
    expect(() => expectNoLeak({ password: "wonderland" }, ["wonderland"])).toThrow();
    expect(() => expectNoLeak(new Error("bad wonderland"), ["wonderland"])).toThrow();
    expect(() =>
      expectNoLeak(new Error("x", { cause: { p: "wonderland" } }), ["wonderland"]),
    ).toThrow();
  });
});
