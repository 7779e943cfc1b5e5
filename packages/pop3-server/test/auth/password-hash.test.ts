import { scryptSync } from "node:crypto";
import { Secret } from "pop3-core";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_SCRYPT_PARAMS,
  hashPassword,
  PasswordHashError,
  verifyPasswordHash,
} from "../../src/auth/index";
import { BackendError, ConfigError } from "../../src/errors";
import { expectNoLeak, rejection } from "./leak";

/** Cheap parameters so the suite stays fast. */
const FAST = { N: 16 } as const;

const SALT = Buffer.from("0123456789abcdef").toString("base64");
const KEY = Buffer.alloc(32, 7).toString("base64");

describe("hashPassword", () => {
  it("writes scrypt$N$r$p$salt$key with the default parameters", async () => {
    const hash = await hashPassword("correct horse");
    const fields = hash.split("$");
    expect(fields.slice(0, 4)).toEqual(["scrypt", "16384", "8", "1"]);
    expect(Buffer.from(fields[4] ?? "", "base64")).toHaveLength(DEFAULT_SCRYPT_PARAMS.saltLength);
    expect(Buffer.from(fields[5] ?? "", "base64")).toHaveLength(DEFAULT_SCRYPT_PARAMS.keyLength);
    expect(DEFAULT_SCRYPT_PARAMS).toEqual({ N: 16384, r: 8, p: 1, saltLength: 16, keyLength: 32 });
    await expect(verifyPasswordHash("correct horse", hash)).resolves.toBe(true);
  });

  it("takes parameters field by field", async () => {
    const hash = await hashPassword("pw-1234", { N: 32, r: 2, p: 3, saltLength: 8, keyLength: 16 });
    const fields = hash.split("$");
    expect(fields.slice(0, 4)).toEqual(["scrypt", "32", "2", "3"]);
    expect(Buffer.from(fields[4] ?? "", "base64")).toHaveLength(8);
    expect(Buffer.from(fields[5] ?? "", "base64")).toHaveLength(16);
  });

  it("salts: the same password hashes differently each time", async () => {
    const one = await hashPassword("same-pass", FAST);
    const two = await hashPassword("same-pass", FAST);
    expect(one).not.toBe(two);
    await expect(verifyPasswordHash("same-pass", one)).resolves.toBe(true);
    await expect(verifyPasswordHash("same-pass", two)).resolves.toBe(true);
  });

  it("hashes the UTF-8 bytes, as plain scrypt does", async () => {
    // An independent hash built with scryptSync must verify: the format is interoperable.
    const salt = Buffer.from("0123456789abcdef");
    const key = scryptSync(Buffer.from("pässwörd✓", "utf8"), salt, 32, { N: 64, r: 4, p: 2 });
    const hash = `scrypt$64$4$2$${salt.toString("base64")}$${key.toString("base64")}`;
    await expect(verifyPasswordHash("pässwörd✓", hash)).resolves.toBe(true);
    await expect(verifyPasswordHash("passwörd✓", hash)).resolves.toBe(false);
  });

  it("accepts a Secret", async () => {
    const hash = await hashPassword(new Secret("in-a-secret"), FAST);
    await expect(verifyPasswordHash(new Secret("in-a-secret"), hash)).resolves.toBe(true);
    await expect(verifyPasswordHash("in-a-secret", hash)).resolves.toBe(true);
  });

  it.each([
    ["N not a power of two", { N: 24 }],
    ["N of 1", { N: 1 }],
    ["N too large", { N: 2 ** 21 }],
    ["r of 0", { N: 16, r: 0 }],
    ["fractional p", { N: 16, p: 1.5 }],
    ["too much memory", { N: 2 ** 20, r: 8 }],
    ["short salt", { N: 16, saltLength: 4 }],
    ["short key", { N: 16, keyLength: 8 }],
  ])("refuses %s with a ConfigError", async (_name, params) => {
    const error = await rejection(() => hashPassword("secret-pass", params));
    expect(error).toBeInstanceOf(ConfigError);
    expectNoLeak(error, ["secret-pass"]);
  });

  it("refuses an empty password", async () => {
    await expect(hashPassword("", FAST)).rejects.toBeInstanceOf(ConfigError);
  });
});

describe("verifyPasswordHash", () => {
  it("tells right from wrong passwords", async () => {
    const hash = await hashPassword("right-password", FAST);
    await expect(verifyPasswordHash("right-password", hash)).resolves.toBe(true);
    for (const wrong of ["right-passworD", "right-passwor", "right-password ", ""]) {
      await expect(verifyPasswordHash(wrong, hash)).resolves.toBe(false);
    }
  });

  it("notices a tampered key or salt", async () => {
    const hash = await hashPassword("right-password", FAST);
    const fields = hash.split("$");
    const key = Buffer.from(fields[5] ?? "", "base64");
    key[0] = (key[0] ?? 0) ^ 1;
    const badKey = [...fields.slice(0, 5), key.toString("base64")].join("$");
    await expect(verifyPasswordHash("right-password", badKey)).resolves.toBe(false);
    const badSalt = [...fields.slice(0, 4), SALT, fields[5]].join("$");
    await expect(verifyPasswordHash("right-password", badSalt)).resolves.toBe(false);
  });

  it.each([
    ["empty", ""],
    ["plaintext", "hunter2-secret"],
    ["other scheme", `bcrypt$16$8$1$${SALT}$${KEY}`],
    ["too few fields", `scrypt$16$8$1$${SALT}`],
    ["too many fields", `scrypt$16$8$1$${SALT}$${KEY}$`],
    ["N not a power of two", `scrypt$24$8$1$${SALT}$${KEY}`],
    ["N of 1", `scrypt$1$8$1$${SALT}$${KEY}`],
    ["N too large", `scrypt$2097152$1$1$${SALT}$${KEY}`],
    ["N * r too large", `scrypt$1048576$8$1$${SALT}$${KEY}`],
    ["leading zero", `scrypt$016$8$1$${SALT}$${KEY}`],
    ["negative r", `scrypt$16$-8$1$${SALT}$${KEY}`],
    ["r of 0", `scrypt$16$0$1$${SALT}$${KEY}`],
    ["huge p", `scrypt$16$8$1000$${SALT}$${KEY}`],
    ["salt not base64", `scrypt$16$8$1$not*base64!!$${KEY}`],
    ["salt unpadded", `scrypt$16$8$1$${SALT.replace(/=+$/, "")}$${KEY}`],
    ["salt too short", `scrypt$16$8$1$AAAA$${KEY}`],
    ["key too short", `scrypt$16$8$1$${SALT}$AAAAAAAA`],
    ["key with whitespace", `scrypt$16$8$1$${SALT}$ ${KEY}`],
  ])("rejects a malformed hash (%s) without quoting it", async (_name, hash) => {
    const error = await rejection(() => verifyPasswordHash("secret-pass", hash));
    expect(error).toBeInstanceOf(PasswordHashError);
    expect(error).toBeInstanceOf(BackendError);
    expect((error as PasswordHashError).code).toBe("POP3_AUTH_BACKEND");
    expect((error as PasswordHashError).responseCode).toBe("SYS/TEMP");
    expect((error as Error).message).toMatch(/^malformed password hash: /);
    const secrets = ["secret-pass", SALT.slice(0, 12), KEY.slice(0, 12), "hunter2-secret"];
    expectNoLeak(error, secrets);
  });

  it("finds no match in a well-formed hash it did not make", async () => {
    await expect(verifyPasswordHash("secret-pass", `scrypt$16$8$1$${SALT}$${KEY}`)).resolves.toBe(
      false,
    );
  });
});
