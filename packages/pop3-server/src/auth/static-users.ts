import { createHmac, randomBytes } from "node:crypto";
import { Secret, timingSafeEqual } from "pop3-core";
import { ConfigError } from "../errors";
import type { AuthContext, Authenticator, AuthResult } from "./types";
import { userNameProblem } from "./user-name";

/** A user's plaintext password, bare or in an object (room for more fields later). */
export type StaticUserEntry = string | { readonly password: string };

export interface StaticUsersOptions {
  /**
   * Match user names in `verifyPassword` without regard to case (`toLowerCase`); the canonical
   * name returned is the key as written in the map. Two keys that differ only in case are a
   * `ConfigError`. `getSharedSecret` still wants the exact key: it cannot tell the server the
   * canonical name, and a maildrop opened under another spelling would be another maildrop.
   * Default `false`.
   */
  readonly caseInsensitive?: boolean;
}

interface Entry {
  readonly user: string;
  readonly password: string;
  readonly digest: Uint8Array;
}

/**
 * An authenticator over a fixed map of plaintext passwords, for tests and demos. It offers
 * `getSharedSecret`, so APOP and CRAM-MD5 work with it.
 *
 * Passwords are compared in constant time: both sides are first reduced to an HMAC-SHA256 of
 * their UTF-8 bytes under a random per-instance key (so the length of the stored password does
 * not leak either), then compared with pop3-core's `timingSafeEqual`. An unknown user is compared
 * against a dummy digest the same way, so a wrong user name and a wrong password take the same
 * time.
 *
 * Throws `ConfigError` for an empty map entry, an empty password, or a user name that breaks the
 * rules of `addUserToFile` (empty, `:`, whitespace, control characters, leading `#`). Messages
 * never contain a password.
 */
export function staticUsers(
  users: Readonly<Record<string, StaticUserEntry>>,
  options: StaticUsersOptions = {},
): Authenticator {
  const caseInsensitive = options.caseInsensitive ?? false;
  const key = randomBytes(32);
  const digestOf = (password: string): Uint8Array =>
    createHmac("sha256", key).update(password, "utf8").digest();

  const byName = new Map<string, Entry>();
  const byFolded = new Map<string, Entry>();
  const problems: string[] = [];
  let index = 0;
  for (const [user, value] of Object.entries(users)) {
    index += 1;
    const nameProblem = userNameProblem(user);
    if (nameProblem !== undefined) {
      problems.push(`user #${index}: ${nameProblem}`);
      continue;
    }
    const password = typeof value === "string" ? value : passwordField(value);
    if (password === undefined) {
      problems.push(`user ${JSON.stringify(user)}: expected a password string or { password }`);
      continue;
    }
    if (password.length === 0) {
      problems.push(`user ${JSON.stringify(user)}: the password is empty`);
      continue;
    }
    const entry: Entry = { user, password, digest: digestOf(password) };
    byName.set(user, entry);
    if (caseInsensitive) {
      const folded = user.toLowerCase();
      const other = byFolded.get(folded);
      if (other !== undefined) {
        problems.push(
          `users ${JSON.stringify(other.user)} and ${JSON.stringify(user)} differ only in case`,
        );
        continue;
      }
      byFolded.set(folded, entry);
    }
  }
  if (problems.length > 0) {
    throw new ConfigError(`staticUsers: ${problems.join("; ")}`);
  }

  const dummy = digestOf(randomBytes(24).toString("base64"));
  const lookup = (user: string): Entry | undefined =>
    caseInsensitive ? byFolded.get(user.toLowerCase()) : byName.get(user);

  return {
    async verifyPassword(
      user: string,
      password: Secret<string>,
      _context: AuthContext,
    ): Promise<AuthResult> {
      const entry = lookup(user);
      const matches = timingSafeEqual(digestOf(password.reveal()), entry?.digest ?? dummy);
      return matches && entry !== undefined ? { ok: true, user: entry.user } : { ok: false };
    },

    async getSharedSecret(
      user: string,
      _context: AuthContext,
    ): Promise<Secret<string> | undefined> {
      const entry = byName.get(user);
      return entry === undefined ? undefined : new Secret(entry.password);
    },
  };
}

function passwordField(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const password: unknown = (value as { password?: unknown }).password;
  return typeof password === "string" ? password : undefined;
}
