import type { Maildrop } from "pop3-server";

/** The bytes of `s` in UTF-8. */
export const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Messages whose RFC size differs from their stored size in every way a store can get wrong. */
export const SAMPLES: Readonly<Record<string, Uint8Array>> = {
  "lines beginning with a dot": text("Subject: dots\r\n\r\n.leading\r\n..two\r\nend\r\n"),
  "a line that is just a dot": text("Subject: dot\r\n\r\nbefore\r\n.\r\nafter\r\n"),
  "bare LF line ends": text("Subject: lf\n\nline one\nline two\n\n.dot\n"),
  "bare CR line ends": text("Subject: cr\r\rbody\r"),
  "no final line end": text("Subject: open\r\n\r\nno final line end"),
  "NUL and 8-bit bytes": Uint8Array.from([
    ...text("Subject: bin\r\n\r\n"),
    0x00,
    0xff,
    0x80,
    0xe9,
    0x0d,
    0x0a,
    0x00,
    0x0a,
    0xc3,
    0x28,
    0x2e,
    0x0d,
    0x0a,
  ]),
  "an empty message": new Uint8Array(0),
};

/** A message of about `megabytes` MB with CRLF, bare LF and dot lines, deterministic. */
export function bigMessage(megabytes: number): Uint8Array {
  const line = text(`${"x".repeat(70)}\r\n`);
  const dotLine = text(".dot line\n");
  const total = megabytes * 1024 * 1024;
  const out = new Uint8Array(total);
  let pos = 0;
  let n = 0;
  while (pos < total) {
    const piece = n % 97 === 0 ? dotLine : line;
    const take = Math.min(piece.length, total - pos);
    out.set(piece.subarray(0, take), pos);
    pos += take;
    n++;
  }
  return out;
}

/** Reads message `index` whole; also gives the size of each chunk the store yielded. */
export async function readAll(
  maildrop: Maildrop,
  index: number,
  signal?: AbortSignal,
): Promise<{ bytes: Uint8Array; chunks: number[] }> {
  const parts: Uint8Array[] = [];
  for await (const chunk of maildrop.read(index, signal)) parts.push(chunk.slice());
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    bytes.set(p, pos);
    pos += p.length;
  }
  return { bytes, chunks: parts.map((p) => p.length) };
}

/** Reads an iterable to its end, keeping nothing: for reads that must fail. */
export async function drain(iterable: AsyncIterable<Uint8Array>): Promise<void> {
  for await (const _ of iterable) {
    // consume
  }
}
