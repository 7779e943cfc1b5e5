/**
 * MD5 (RFC 1321) and HMAC-MD5 (RFC 2104), written out so the core needs no crypto API. Both are
 * broken as general-purpose hashes; POP3 still needs them for APOP (RFC 1939 §7) and CRAM-MD5
 * (RFC 2195), and nothing else in this package should use them.
 */

/** RFC 1321 §3.4: T[i] = floor(2^32 * abs(sin(i))), written out so no engine's `sin` matters. */
// biome-ignore format: eight constants a row keeps the table readable
const T = Int32Array.of(
  0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
  0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
  0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
  0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
  0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
  0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
  0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
  0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
);

/** Left-rotation amounts: four per round, each used for every fourth step of that round. */
const SHIFTS = Uint8Array.of(7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21);

const BLOCK = 64;

/** The MD5 digest (16 bytes) of `bytes`. */
export function md5(bytes: Uint8Array): Uint8Array {
  const state = Int32Array.of(0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476);
  const words = new Int32Array(16);

  const whole = bytes.length - (bytes.length % BLOCK);
  for (let offset = 0; offset < whole; offset += BLOCK) {
    compress(state, words, bytes, offset);
  }

  // Padding (§3.1, §3.2): 0x80, zeros up to 56 mod 64, then the bit length as 64-bit little endian.
  const rest = bytes.length - whole;
  const tail = new Uint8Array(rest < BLOCK - 8 ? BLOCK : 2 * BLOCK);
  tail.set(bytes.subarray(whole));
  tail[rest] = 0x80;
  writeUint32Le(tail, tail.length - 8, (bytes.length * 8) >>> 0);
  writeUint32Le(tail, tail.length - 4, Math.floor(bytes.length / 0x20000000) >>> 0);
  for (let offset = 0; offset < tail.length; offset += BLOCK) {
    compress(state, words, tail, offset);
  }

  const digest = new Uint8Array(16);
  for (let i = 0; i < 4; i++) writeUint32Le(digest, i * 4, state[i]!);
  return digest;
}

/** HMAC-MD5 (RFC 2104) of `message` under `key`. */
export function hmacMd5(key: Uint8Array, message: Uint8Array): Uint8Array {
  const blockKey = new Uint8Array(BLOCK);
  blockKey.set(key.length > BLOCK ? md5(key) : key);

  const inner = new Uint8Array(BLOCK + message.length);
  const outer = new Uint8Array(BLOCK + 16);
  for (let i = 0; i < BLOCK; i++) {
    inner[i] = blockKey[i]! ^ 0x36;
    outer[i] = blockKey[i]! ^ 0x5c;
  }
  inner.set(message, BLOCK);
  outer.set(md5(inner), BLOCK);
  return md5(outer);
}

const HEX_PAIRS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Lowercase hexadecimal, two digits per byte. */
export function toHex(bytes: Uint8Array): string {
  let hex = "";
  for (const byte of bytes) hex += HEX_PAIRS[byte]!;
  return hex;
}

/** One application of the compression function (§3.4) to the 64 bytes at `offset`. */
function compress(state: Int32Array, words: Int32Array, bytes: Uint8Array, offset: number): void {
  for (let i = 0; i < 16; i++) {
    const at = offset + i * 4;
    words[i] = bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
  }

  let a = state[0]!;
  let b = state[1]!;
  let c = state[2]!;
  let d = state[3]!;
  for (let step = 0; step < 64; step++) {
    const round = step >>> 4;
    let mixed: number;
    let word: number;
    if (round === 0) {
      mixed = (b & c) | (~b & d); // F
      word = step;
    } else if (round === 1) {
      mixed = (b & d) | (c & ~d); // G
      word = (5 * step + 1) & 15;
    } else if (round === 2) {
      mixed = b ^ c ^ d; // H
      word = (3 * step + 5) & 15;
    } else {
      mixed = c ^ (b | ~d); // I
      word = (7 * step) & 15;
    }
    const sum = (a + mixed + T[step]! + words[word]!) | 0;
    const shift = SHIFTS[round * 4 + (step & 3)]!;
    a = d;
    d = c;
    c = b;
    b = (b + ((sum << shift) | (sum >>> (32 - shift)))) | 0;
  }

  state[0] = (state[0]! + a) | 0;
  state[1] = (state[1]! + b) | 0;
  state[2] = (state[2]! + c) | 0;
  state[3] = (state[3]! + d) | 0;
}

function writeUint32Le(target: Uint8Array, offset: number, value: number): void {
  target[offset] = value & 0xff;
  target[offset + 1] = (value >>> 8) & 0xff;
  target[offset + 2] = (value >>> 16) & 0xff;
  target[offset + 3] = (value >>> 24) & 0xff;
}
