import { chmod, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Secret } from "pop3-core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { addUserToFile, hashPassword, UserFileError, userFile } from "../../src/auth/index";
import { BackendError, InvalidUserError } from "../../src/errors";
import { context, expectNoLeak, rejection } from "./leak";

const FAST = { params: { N: 16 } } as const;

let dir: string;
let file: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "pop3-auth-"));
  file = join(dir, "users");
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const login = (auth: ReturnType<typeof userFile>, user: string, password: string) =>
  auth.verifyPassword(user, new Secret(password), context);

async function hashLine(user: string, password: string): Promise<string> {
  return `${user}:${await hashPassword(password, { N: 16 })}`;
}

describe("addUserToFile and userFile", () => {
  it("creates the file with mode 0600 and one user:hash line", async () => {
    await expect(addUserToFile(file, "alice", "wonderland", FAST)).resolves.toEqual({
      replaced: false,
    });
    const info = await stat(file);
    expect(info.mode & 0o777).toBe(0o600);
    const text = await readFile(file, "utf8");
    expect(text).toMatch(/^alice:scrypt\$16\$8\$1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*\n$/);
    expect(text).not.toContain("wonderland");
  });

  it("round-trips: right password in, wrong password and unknown users out", async () => {
    await addUserToFile(file, "alice", "wonderland", FAST);
    await addUserToFile(file, "bob", new Secret("pässwörd✓"), FAST);
    const auth = userFile(file);
    await expect(login(auth, "alice", "wonderland")).resolves.toEqual({ ok: true, user: "alice" });
    await expect(login(auth, "bob", "pässwörd✓")).resolves.toEqual({ ok: true, user: "bob" });
    await expect(login(auth, "alice", "Wonderland")).resolves.toEqual({ ok: false });
    await expect(login(auth, "alice", "pässwörd✓")).resolves.toEqual({ ok: false });
    await expect(login(auth, "ALICE", "wonderland")).resolves.toEqual({ ok: false });
    await expect(login(auth, "carol", "wonderland")).resolves.toEqual({ ok: false });
    await expect(login(auth, "__proto__", "wonderland")).resolves.toEqual({ ok: false });
  });

  it("offers no shared secret: APOP and CRAM-MD5 are impossible with hashes", async () => {
    await addUserToFile(file, "alice", "wonderland", FAST);
    const auth = userFile(file);
    expect(auth.getSharedSecret).toBeUndefined();
    expect("getSharedSecret" in auth).toBe(false);
  });

  it("replaces an existing user in place and keeps every other line", async () => {
    const bob = await hashLine("bob", "bob-password");
    await writeFile(
      file,
      `# users\n\nalice:${(await hashLine("x", "old-pass")).slice(2)}\n  # note\n${bob}\n`,
    );
    await expect(addUserToFile(file, "alice", "new-pass", FAST)).resolves.toEqual({
      replaced: true,
    });
    const lines = (await readFile(file, "utf8")).split("\n");
    expect(lines).toHaveLength(6);
    expect(lines[0]).toBe("# users");
    expect(lines[1]).toBe("");
    expect(lines[2]).toMatch(/^alice:scrypt\$/);
    expect(lines[3]).toBe("  # note");
    expect(lines[4]).toBe(bob);
    expect(lines[5]).toBe("");
    const auth = userFile(file);
    await expect(login(auth, "alice", "new-pass")).resolves.toEqual({ ok: true, user: "alice" });
    await expect(login(auth, "alice", "old-pass")).resolves.toEqual({ ok: false });
    await expect(login(auth, "bob", "bob-password")).resolves.toEqual({ ok: true, user: "bob" });
  });

  it("appends after a last line without a newline, and keeps CRLF files CRLF", async () => {
    await writeFile(file, await hashLine("bob", "bob-password"));
    await addUserToFile(file, "alice", "wonderland", FAST);
    expect((await readFile(file, "utf8")).split("\n").map((l) => l.split(":")[0])).toEqual([
      "bob",
      "alice",
      "",
    ]);

    const crlf = join(dir, "crlf");
    await writeFile(crlf, `# windows\r\n${await hashLine("bob", "bob-password")}\r\n`);
    await addUserToFile(crlf, "alice", "wonderland", FAST);
    const text = await readFile(crlf, "utf8");
    expect(text.split("\r\n")).toHaveLength(4);
    expect(text.replace(/\r\n/g, "")).not.toContain("\n");
    const auth = userFile(crlf);
    await expect(login(auth, "bob", "bob-password")).resolves.toEqual({ ok: true, user: "bob" });
    await expect(login(auth, "alice", "wonderland")).resolves.toEqual({ ok: true, user: "alice" });
  });

  it("reads hand-written files: comments, blank lines, indentation, CRLF, BOM", async () => {
    const text = [
      "\uFEFF# first line comment",
      "",
      "   ",
      `  ${await hashLine("alice", "wonderland")}  `,
      "\t# indented comment",
      `${await hashLine("bob", "bob-password")}\r`,
      "",
    ].join("\n");
    await writeFile(file, text);
    const auth = userFile(file);
    await expect(login(auth, "alice", "wonderland")).resolves.toEqual({ ok: true, user: "alice" });
    await expect(login(auth, "bob", "bob-password")).resolves.toEqual({ ok: true, user: "bob" });
    await expect(login(auth, "# first line comment", "x")).resolves.toEqual({ ok: false });
  });

  it("keeps the mode of an existing file", async () => {
    await writeFile(file, await hashLine("bob", "bob-password"));
    await chmod(file, 0o640);
    await addUserToFile(file, "alice", "wonderland", FAST);
    expect((await stat(file)).mode & 0o777).toBe(0o640);
  });

  it("writes through a symlink to the real file", async () => {
    const real = join(dir, "real-users");
    await writeFile(real, "");
    await symlink(real, file);
    await addUserToFile(file, "alice", "wonderland", FAST);
    expect((await readFile(real, "utf8")).startsWith("alice:")).toBe(true);
    expect((await stat(file)).isFile()).toBe(true);
    await expect(login(userFile(file), "alice", "wonderland")).resolves.toEqual({
      ok: true,
      user: "alice",
    });
  });

  it("leaves no temporary file behind, even with concurrent writers", async () => {
    const names = ["u1", "u2", "u3", "u4", "u5", "u6"];
    await Promise.all(names.map((name) => addUserToFile(file, name, `${name}-password`, FAST)));
    await addUserToFile(file, "u3", "changed-password", FAST);
    expect(await readdir(dir)).toEqual(["users"]);
    const text = await readFile(file, "utf8");
    expect(text.split("\n").filter(Boolean)).toHaveLength(names.length);
    const auth = userFile(file);
    for (const name of names) {
      const password = name === "u3" ? "changed-password" : `${name}-password`;
      await expect(login(auth, name, password)).resolves.toEqual({ ok: true, user: name });
    }
  });

  it("fails with a BackendError when the directory does not exist, creating nothing", async () => {
    const missing = join(dir, "no", "such", "users");
    const error = await rejection(() => addUserToFile(missing, "alice", "wonderland", FAST));
    expect(error).toBeInstanceOf(BackendError);
    expect((error as BackendError).code).toBe("POP3_AUTH_BACKEND");
    expectNoLeak(error, ["wonderland"]);
    expect(await readdir(dir)).toEqual([]);
  });

  it.each([
    ["empty", ""],
    ["colon", "a:b"],
    ["space", "a b"],
    ["tab", "a\tb"],
    ["newline", "alice\nbob:x"],
    ["NUL", "a\u0000b"],
    ["DEL", "a\u007fb"],
    ["C1 control", "a\u0085b"],
    ["Unicode line separator", "a\u2028b"],
    ["no-break space", "a\u00a0b"],
    ["leading #", "#alice"],
    ["lone surrogate", "a\ud800b"],
  ])("rejects a user name with %s and writes nothing", async (_name, user) => {
    const error = await rejection(() => addUserToFile(file, user, "wonderland", FAST));
    expect(error).toBeInstanceOf(InvalidUserError);
    expect((error as InvalidUserError).code).toBe("POP3_BAD_USER");
    expectNoLeak(error, ["wonderland"]);
    expect(await readdir(dir)).toEqual([]);
  });

  it("refuses to rewrite a malformed file and leaves it alone", async () => {
    const broken = `${await hashLine("bob", "bob-password")}\nalice wonderland\n`;
    await writeFile(file, broken);
    const error = await rejection(() => addUserToFile(file, "carol", "carol-password", FAST));
    expect(error).toBeInstanceOf(UserFileError);
    expect((error as UserFileError).line).toBe(2);
    expect(await readFile(file, "utf8")).toBe(broken);
    expect(await readdir(dir)).toEqual(["users"]);
  });
});

describe("userFile loading", () => {
  it("reads lazily: a missing file is no error until someone logs in", async () => {
    const auth = userFile(file);
    const error = await rejection(() => login(auth, "alice", "wonderland"));
    expect(error).toBeInstanceOf(BackendError);
    expect((error as BackendError).code).toBe("POP3_AUTH_BACKEND");
    expect((error as BackendError).responseCode).toBe("SYS/TEMP");
    expectNoLeak(error, ["wonderland"]);
    await addUserToFile(file, "alice", "wonderland", FAST);
    await expect(login(auth, "alice", "wonderland")).resolves.toEqual({ ok: true, user: "alice" });
  });

  it("reloads when the file changes", async () => {
    await addUserToFile(file, "alice", "wonderland", FAST);
    const auth = userFile(file);
    await expect(login(auth, "bob", "bob-password")).resolves.toEqual({ ok: false });
    await addUserToFile(file, "bob", "bob-password", FAST);
    await expect(login(auth, "bob", "bob-password")).resolves.toEqual({ ok: true, user: "bob" });
    await addUserToFile(file, "alice", "new-pass", FAST);
    await expect(login(auth, "alice", "wonderland")).resolves.toEqual({ ok: false });
    await expect(login(auth, "alice", "new-pass")).resolves.toEqual({ ok: true, user: "alice" });
  });

  it("notices in-place edits too (same inode)", async () => {
    await writeFile(file, await hashLine("alice", "wonderland"));
    const auth = userFile(file);
    await expect(login(auth, "alice", "wonderland")).resolves.toEqual({ ok: true, user: "alice" });
    await writeFile(file, await hashLine("bob", "bob-password"));
    await expect(login(auth, "alice", "wonderland")).resolves.toEqual({ ok: false });
    await expect(login(auth, "bob", "bob-password")).resolves.toEqual({ ok: true, user: "bob" });
  });

  it("with reloadOnChange: false, sees changes only after reload()", async () => {
    await addUserToFile(file, "alice", "wonderland", FAST);
    const auth = userFile(file, { reloadOnChange: false });
    await expect(login(auth, "alice", "wonderland")).resolves.toEqual({ ok: true, user: "alice" });
    await addUserToFile(file, "bob", "bob-password", FAST);
    await expect(login(auth, "bob", "bob-password")).resolves.toEqual({ ok: false });
    await auth.reload();
    await expect(login(auth, "bob", "bob-password")).resolves.toEqual({ ok: true, user: "bob" });
  });

  it("serves concurrent first logins from one load", async () => {
    await addUserToFile(file, "alice", "wonderland", FAST);
    const auth = userFile(file);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => login(auth, "alice", i % 2 ? "wonderland" : "nope")),
    );
    expect(results.map((r) => r.ok)).toEqual([false, true, false, true, false, true, false, true]);
  });

  it("stops serving stale data when the file turns bad, and recovers when fixed", async () => {
    await addUserToFile(file, "alice", "wonderland", FAST);
    const good = await readFile(file, "utf8");
    const auth = userFile(file);
    await expect(login(auth, "alice", "wonderland")).resolves.toEqual({ ok: true, user: "alice" });
    await writeFile(file, `${good}garbage-without-colon\n`);
    const error = await rejection(() => login(auth, "alice", "wonderland"));
    expect(error).toBeInstanceOf(UserFileError);
    expect((error as UserFileError).line).toBe(2);
    await expect(auth.reload()).rejects.toBeInstanceOf(UserFileError);
    await writeFile(file, good);
    await expect(login(auth, "alice", "wonderland")).resolves.toEqual({ ok: true, user: "alice" });
  });

  it("stops when the file disappears", async () => {
    await addUserToFile(file, "alice", "wonderland", FAST);
    const auth = userFile(file);
    await expect(login(auth, "alice", "wonderland")).resolves.toEqual({ ok: true, user: "alice" });
    await rm(file);
    await expect(login(auth, "alice", "wonderland")).rejects.toBeInstanceOf(BackendError);
  });
});

describe("malformed user files", () => {
  const cases: [string, (alice: string) => string, number, RegExp][] = [
    ["a line without a colon", (a) => `# c\n${a}\nbob secret-pass\n`, 3, /expected user:hash/],
    ["a plaintext password", (a) => `${a}\nbob:secret-pass\n`, 2, /malformed password hash/],
    ["a truncated hash", (a) => `\n\n${a.slice(0, -10)}\n`, 3, /malformed password hash/],
    ["an empty user", () => ":scrypt$16$8$1$AAAAAAAAAAA=$secret-pass\n", 1, /user name is empty/],
    ["a user with a space", (a) => `bo b:${a.split(":")[1]}\n`, 1, /whitespace/],
    ["a duplicate user", (a) => `${a}\n#\n${a}\n`, 3, /duplicate user \(first on line 1\)/],
  ];

  it.each(cases)("names the line of %s, without its content", async (_name, make, line, reason) => {
    const alice = await hashLine("alice", "wonderland");
    const text = make(alice);
    await writeFile(file, text);
    const error = await rejection(() => login(userFile(file), "alice", "wonderland"));
    expect(error).toBeInstanceOf(UserFileError);
    expect(error).toBeInstanceOf(BackendError);
    const typed = error as UserFileError;
    expect(typed.code).toBe("POP3_AUTH_BACKEND");
    expect(typed.line).toBe(line);
    expect(typed.path).toBe(file);
    expect(typed.message).toContain(`line ${line}:`);
    expect(typed.message).toMatch(reason);
    const hash = alice.slice("alice:".length);
    expectNoLeak(error, ["wonderland", "secret-pass", hash, hash.split("$")[4] ?? "?????"]);
  });

  it("rejects bytes that are not UTF-8", async () => {
    await writeFile(file, Buffer.from([0x61, 0x3a, 0xff, 0xfe, 0x0a]));
    const error = await rejection(() => login(userFile(file), "a", "wonderland"));
    expect(error).toBeInstanceOf(UserFileError);
    expect((error as Error).message).toMatch(/not valid UTF-8/);
  });
});

describe("userFile does not leak", () => {
  it("keeps hashes and passwords out of inspect and JSON", async () => {
    await addUserToFile(file, "alice", "wonderland", FAST);
    const hash = (await readFile(file, "utf8")).trim().slice("alice:".length);
    const auth = userFile(file);
    await login(auth, "alice", "wonderland");
    expectNoLeak(auth, ["wonderland", hash, hash.split("$")[5] ?? "?????"]);
    expectNoLeak(await login(auth, "alice", "wonderland"), ["wonderland", hash]);
  });
});
