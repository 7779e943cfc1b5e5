import { timingSafeEqual as cryptoTimingSafeEqual, randomBytes, scrypt } from "node:crypto";
import type { Secret } from "pop3-core";
import { BackendError, ConfigError } from "../errors";

/**
 * scrypt parameters (RFC 7914). `N` is the CPU/memory cost (a power of two), `r` the block size,
 * `p` the parallelisation; memory is about `128 * N * r` bytes.
 */
export interface ScryptParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  /** Random salt length in bytes. */
  readonly saltLength: number;
  /** Derived key length in bytes. */
  readonly keyLength: number;
}

/** N=16384, r=8, p=1 (about 16 MiB and a few tens of milliseconds), 16-byte salt, 32-byte key. */
export const DEFAULT_SCRYPT_PARAMS: ScryptParams = Object.freeze({
  N: 16384,
  r: 8,
  p: 1,
  saltLength: 16,
  keyLength: 32,
});

/**
 * Limits on the parameters accepted when hashing and, more importantly, when verifying: a hash
 * read from a file must not be able to make one login allocate gigabytes or run for minutes.
 */
const LIMITS = {
  maxN: 2 ** 20,
  maxR: 32,
  maxP: 16,
  /** `128 * N * r` at most 256 MiB. */
  maxNr: 2 ** 21,
  saltLength: [8, 64],
  keyLength: [16, 64],
} as const;

/**
 * A password hash that does not parse, or parameters out of range. A `BackendError`
 * (`POP3_AUTH_BACKEND`): the stored credential is unusable, which is not the client's fault.
 * The message says what is wrong, never the hash or the password.
 */
export class PasswordHashError extends BackendError {
  constructor(reason: string) {
    super("POP3_AUTH_BACKEND", `malformed password hash: ${reason}`);
    this.name = "PasswordHashError";
  }
}

/** A parsed `scrypt$N$r$p$salt$key` hash. Internal: holds the key bytes. */
export interface ParsedHash {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly key: Buffer;
}

const INTEGER = /^[1-9][0-9]{0,9}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Why `N`, `r`, `p` can not be used, or `undefined`. */
function costProblem(N: number, r: number, p: number): string | undefined {
  if (!Number.isSafeInteger(N) || N < 2 || N > LIMITS.maxN || (N & (N - 1)) !== 0) {
    return `N must be a power of two from 2 to ${LIMITS.maxN}`;
  }
  if (!Number.isSafeInteger(r) || r < 1 || r > LIMITS.maxR) {
    return `r must be an integer from 1 to ${LIMITS.maxR}`;
  }
  if (!Number.isSafeInteger(p) || p < 1 || p > LIMITS.maxP) {
    return `p must be an integer from 1 to ${LIMITS.maxP}`;
  }
  if (N * r > LIMITS.maxNr) return "N * r is too large (over 256 MiB of memory)";
  return undefined;
}

function lengthProblem(what: string, length: number, [min, max]: readonly [number, number]) {
  return Number.isSafeInteger(length) && length >= min && length <= max
    ? undefined
    : `the ${what} length must be from ${min} to ${max} bytes`;
}

function decodeBase64(text: string): Buffer | undefined {
  return BASE64.test(text) && text.length > 0 ? Buffer.from(text, "base64") : undefined;
}

/**
 * Parses a hash, or returns why it is malformed. The reason never quotes any part of the hash.
 */
export function parseHash(hash: string): ParsedHash | string {
  const fields = hash.split("$");
  if (fields.length !== 6) return "expected scrypt$N$r$p$salt$key";
  const [scheme, nText, rText, pText, saltText, keyText] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (scheme !== "scrypt") return "unknown scheme (only scrypt is supported)";
  if (!INTEGER.test(nText) || !INTEGER.test(rText) || !INTEGER.test(pText)) {
    return "N, r and p must be decimal integers";
  }
  const N = Number(nText);
  const r = Number(rText);
  const p = Number(pText);
  const cost = costProblem(N, r, p);
  if (cost !== undefined) return cost;
  const salt = decodeBase64(saltText);
  if (salt === undefined) return "the salt is not padded base64";
  const key = decodeBase64(keyText);
  if (key === undefined) return "the key is not padded base64";
  const sizes =
    lengthProblem("salt", salt.length, LIMITS.saltLength) ??
    lengthProblem("key", key.length, LIMITS.keyLength);
  if (sizes !== undefined) return sizes;
  return { N, r, p, salt, key };
}

function reveal(password: string | Secret<string>): string {
  return typeof password === "string" ? password : password.reveal();
}

/**
 * One scrypt derivation. The password is its UTF-8 bytes, zeroed by the caller once the key is
 * back (the worker zeroes its own copy).
 */
export interface ScryptRequest {
  readonly password: Uint8Array;
  readonly salt: Uint8Array;
  readonly keyLength: number;
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/**
 * Runs a derivation somewhere: the server passes one (`AuthContext.hashing`) that runs it on its
 * own worker threads with a bounded queue; without one, `crypto.scrypt` on libuv's pool.
 */
export type ScryptRunner = (request: ScryptRequest) => Promise<Uint8Array>;

function deriveInThreadPool({
  password,
  salt,
  keyLength,
  N,
  r,
  p,
}: ScryptRequest): Promise<Buffer> {
  // OpenSSL needs 128 * r * (N + p + 2) bytes; Node's default maxmem (32 MiB) is too small past
  // N * r = 2^18, so allow exactly what the (already bounded) parameters need.
  const maxmem = 128 * r * (N + p + 2) + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keyLength, { N, r, p, maxmem }, (error, key) => {
      if (error === null) resolve(key);
      else reject(new BackendError("POP3_AUTH_BACKEND", "scrypt failed", { cause: error }));
    });
  });
}

async function deriveKey(
  password: string,
  salt: Buffer,
  keyLength: number,
  cost: Pick<ScryptParams, "N" | "r" | "p">,
  run: ScryptRunner = deriveInThreadPool,
): Promise<Uint8Array> {
  const bytes = Buffer.from(password, "utf8");
  try {
    return await run({ password: bytes, salt, keyLength, N: cost.N, r: cost.r, p: cost.p });
  } finally {
    bytes.fill(0);
  }
}

/**
 * Hashes `password` (its UTF-8 bytes) as `scrypt$N$r$p$<salt base64>$<key base64>` with a fresh
 * random salt. `params` overrides `DEFAULT_SCRYPT_PARAMS` field by field (tests use a small `N`).
 * Throws `ConfigError` for parameters out of range or an empty password.
 */
export async function hashPassword(
  password: string | Secret<string>,
  params: Partial<ScryptParams> = {},
): Promise<string> {
  const { N, r, p, saltLength, keyLength } = { ...DEFAULT_SCRYPT_PARAMS, ...params };
  const problem =
    costProblem(N, r, p) ??
    lengthProblem("salt", saltLength, LIMITS.saltLength) ??
    lengthProblem("key", keyLength, LIMITS.keyLength);
  if (problem !== undefined) throw new ConfigError(`hashPassword: ${problem}`);
  const plain = reveal(password);
  if (plain.length === 0) throw new ConfigError("hashPassword: the password is empty");
  const salt = randomBytes(saltLength);
  const key = Buffer.from(await deriveKey(plain, salt, keyLength, { N, r, p }));
  return `scrypt$${N}$${r}$${p}$${salt.toString("base64")}$${key.toString("base64")}`;
}

/**
 * Checks a password against a parsed hash, running scrypt with `run` (the server's pool) when
 * given; the final comparison is constant-time.
 */
export async function verifyParsedHash(
  password: string | Secret<string>,
  hash: ParsedHash,
  run?: ScryptRunner,
): Promise<boolean> {
  const key = await deriveKey(reveal(password), hash.salt, hash.key.length, hash, run);
  return key.length === hash.key.length && cryptoTimingSafeEqual(key, hash.key);
}

/**
 * Checks `password` against a hash made by `hashPassword`. Resolves `false` for a wrong password;
 * rejects with `PasswordHashError` for a hash that does not parse or whose parameters are out of
 * range (the message never contains the hash or the password), and with `BackendError` if scrypt
 * itself fails.
 *
 * An authenticator should pass on the `AuthContext` it was given: the hash then runs on the
 * server's hashing threads and queue (and may reject with `PasswordHashBusyError`, answered
 * `[SYS/TEMP]`) instead of on libuv's pool, which the Maildir store's file I/O needs.
 */
export async function verifyPasswordHash(
  password: string | Secret<string>,
  hash: string,
  // `AuthContext` fits (its `hashing`), named by shape: ./types imports this module.
  context?: { readonly hashing?: ScryptRunner },
): Promise<boolean> {
  const parsed = parseHash(hash);
  if (typeof parsed === "string") throw new PasswordHashError(parsed);
  return verifyParsedHash(password, parsed, context?.hashing);
}

/**
 * A hash no password matches (random key), with the same cost as `like`, so that checking an
 * unknown user takes as long as checking a known one.
 */
export function dummyHash(like: ParsedHash | undefined): ParsedHash {
  const { N, r, p } = like ?? DEFAULT_SCRYPT_PARAMS;
  const saltLength = like?.salt.length ?? DEFAULT_SCRYPT_PARAMS.saltLength;
  const keyLength = like?.key.length ?? DEFAULT_SCRYPT_PARAMS.keyLength;
  return { N, r, p, salt: randomBytes(saltLength), key: randomBytes(keyLength) };
}
