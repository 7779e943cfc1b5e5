// Realistic mail for the client benchmarks: CRLF lines of about 76 octets, as MIME writes them.
// Same shape as pop3-core's codec bench: headers, a prose part (10 %) with sentences, some 8-bit
// and a line in 40 starting with a dot (so the server dot-stuffs and the clients unstuff), then a
// base64 attachment.

const WORDS =
  "the of and to in is that for it as was with be by on not he this are or his from at which but have an they you were her she there been one all we their has would when".split(
    " ",
  );
const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

export function makeRandom(seed) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
}

function proseLine(random, index) {
  let line = index % 40 === 0 ? "." : "";
  while (line.length < 70) {
    line += WORDS[random() % WORDS.length];
    line += random() % 9 === 0 ? ". " : random() % 50 === 0 ? "\u00e9 " : " ";
  }
  return `${line}\r\n`;
}

function base64Line(random) {
  let line = "";
  for (let i = 0; i < 76; i++) line += BASE64[random() % 64];
  return `${line}\r\n`;
}

function header(subject) {
  return (
    "Return-Path: <alice@example.org>\r\n" +
    "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\n" +
    `Subject: ${subject}\r\nDate: Mon, 1 Jun 2026 10:00:00 +0000\r\n` +
    "Message-ID: <bench@example.org>\r\nMIME-Version: 1.0\r\n" +
    'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n' +
    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
  );
}

const ATTACHMENT_HEADER =
  "--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n";

/**
 * One message of exactly `size` octets (whole CRLF lines; the last line is padded or cut to
 * fit), distinct per `seed`.
 */
export function makeMessage(size, seed) {
  const random = makeRandom(seed);
  const parts = [header(`report ${seed}`)];
  let length = parts[0].length;
  for (let line = 0; length < size / 10; line++) {
    const text = proseLine(random, line);
    parts.push(text);
    length += Buffer.byteLength(text);
  }
  parts.push(ATTACHMENT_HEADER);
  length += ATTACHMENT_HEADER.length;
  while (length < size) {
    const text = base64Line(random);
    parts.push(text);
    length += text.length;
  }
  let bytes = Buffer.from(parts.join(""), "utf8");
  // Cut to `size` and end on CRLF (the last line is shorter, still ASCII base64).
  bytes = bytes.subarray(0, size);
  bytes[size - 2] = 0x0d;
  bytes[size - 1] = 0x0a;
  if (bytes[size - 3] === 0x0d) bytes[size - 3] = 0x41; // never an empty "\r\r\n"
  return bytes;
}

/**
 * A block of whole lines of about 64 KiB (10 % prose with dots, 90 % base64) that a generated
 * message repeats: the huge messages are produced on the fly from it and never stored.
 */
export function makeBlock(seed) {
  const random = makeRandom(seed);
  const parts = [];
  let length = 0;
  for (let line = 0; length < 65000; line++) {
    const text = line % 10 === 0 ? proseLine(random, line * 4) : base64Line(random);
    const octets = Buffer.byteLength(text);
    if (length + octets > 65536) break;
    parts.push(text);
    length += octets;
  }
  return Buffer.from(parts.join(""), "utf8");
}

/** The header of a generated message. */
export function generatedHeader(subject) {
  return Buffer.from(header(subject) + ATTACHMENT_HEADER);
}
