/**
 * Compares two byte strings in time that depends only on their lengths, never on where they first
 * differ, so a peer probing digests cannot learn how many leading bytes it got right. Different
 * lengths return `false` at once: lengths are not secret here (digests have a fixed size).
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}
