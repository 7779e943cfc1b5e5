/** Longest reason a check reports. */
export const MAX_REASON = 200;

/**
 * What the server sent, for a reason: in double quotes, control characters escaped, cut to
 * `max` characters with an ellipsis.
 */
export function quote(text: string, max = 100): string {
  const escaped = JSON.stringify(text).slice(1, -1);
  const cut = escaped.length > max ? `${escaped.slice(0, max - 1)}…` : escaped;
  return `"${cut}"`;
}

/** Cuts a reason to `MAX_REASON` characters. */
export function clip(reason: string, max = MAX_REASON): string {
  return reason.length > max ? `${reason.slice(0, max - 1)}…` : reason;
}

const latin1 = new TextDecoder("latin1");

/** Bytes as text for a reason (one character per byte, never fails). */
export function showBytes(bytes: Uint8Array, max = 60): string {
  return quote(latin1.decode(bytes.subarray(0, max * 2)), max);
}

/** Where two byte strings first differ, as a short description for a reason. */
export function firstDifference(actual: Uint8Array, expected: Uint8Array): string {
  let i = 0;
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++;
  const from = Math.max(0, i - 12);
  return `differs at octet ${i}: got ${showBytes(actual.subarray(from, i + 24), 36)}, expected ${showBytes(expected.subarray(from, i + 24), 36)}`;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A command line safe to show in a reason: the password of PASS and the initial response of AUTH
 * become `***`.
 */
export function redactLine(line: string): string {
  return line.replace(/^(pass)\s.*$/i, "$1 ***").replace(/^(auth\s+\S+)\s+\S.*$/i, "$1 ***");
}
