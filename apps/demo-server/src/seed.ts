/**
 * The demo mailbox: a dozen messages that show what a POP3 toolkit must get right — plain text,
 * MIME with an attachment, 8-bit bytes, lines starting with a dot, a lone-dot line, bare LF line
 * ends, no final line end, and one message of several MB.
 */
const CRLF = "\r\n";

function mail(subject: string, body: string, extra: readonly string[] = []): string {
  return [
    "From: Demo Sender <sender@example.org>",
    "To: Alice <alice@example.org>",
    `Subject: ${subject}`,
    "Date: Thu, 26 Nov 2026 10:00:00 +0000",
    `Message-ID: <${subject.toLowerCase().replace(/[^a-z0-9]+/g, "-")}@demo.example.org>`,
    "MIME-Version: 1.0",
    ...extra,
    "",
    body,
  ].join(CRLF);
}

function base64Lines(bytes: Buffer): string {
  return (bytes.toString("base64").match(/.{1,76}/g) ?? []).join(CRLF);
}

/** A deterministic pseudo-random payload, so the big message is the same on every machine. */
function payload(size: number): Buffer {
  const out = Buffer.alloc(size);
  let seed = 0x2545f491;
  for (let i = 0; i < size; i++) {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    out[i] = seed & 0xff;
  }
  return out;
}

export function aliceMessages(): Uint8Array[] {
  const attachment = base64Lines(payload(12_000));
  const big = base64Lines(payload(4 * 1024 * 1024));
  return [
    Buffer.from(
      mail(
        "Welcome to the POP3 demo",
        `Hello Alice,${CRLF}${CRLF}this is a plain text message.${CRLF}`,
        ["Content-Type: text/plain; charset=us-ascii"],
      ),
    ),
    Buffer.from(
      mail(
        "Report with attachment",
        [
          "--demo-boundary",
          "Content-Type: text/plain; charset=utf-8",
          "",
          "The report is attached.",
          "--demo-boundary",
          'Content-Type: application/octet-stream; name="report.bin"',
          "Content-Transfer-Encoding: base64",
          'Content-Disposition: attachment; filename="report.bin"',
          "",
          attachment,
          "--demo-boundary--",
          "",
        ].join(CRLF),
        ['Content-Type: multipart/mixed; boundary="demo-boundary"'],
      ),
    ),
    Buffer.concat([
      Buffer.from(
        mail("8-bit Latin-1 body", "", [
          "Content-Type: text/plain; charset=iso-8859-1",
          "Content-Transfer-Encoding: 8bit",
        ]),
      ),
      Buffer.from([
        0x47, 0x72, 0xfc, 0xdf, 0x65, 0x20, 0x61, 0x75, 0x73, 0x20, 0x5a, 0xfc, 0x72, 0x69, 0x63,
        0x68, 0x0d, 0x0a,
      ]),
    ]),
    Buffer.from(
      mail("UTF-8 text", `Привет, Алиса! 你好 — café ☕${CRLF}`, [
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
      ]),
    ),
    Buffer.from(
      mail(
        "Lines that start with a dot",
        `.hidden? no: dot-stuffed on the wire${CRLF}..two dots${CRLF}.${CRLF}after a lone dot${CRLF}`,
      ),
    ),
    Buffer.from(
      mail("Bare LF line ends", "this message was stored with LF only")
        .replace(/\r\n/g, "\n")
        .concat("\nsecond line\n"),
    ),
    Buffer.from(mail("No final line end", "the last line has no CRLF")),
    Buffer.from(mail("Empty body", "")),
    Buffer.from(mail("A long line", `${"long-line-".repeat(500)}${CRLF}`)),
    Buffer.from(
      mail(
        "HTML newsletter",
        `<html><body><h1>News</h1><p>Nothing happened today.</p></body></html>${CRLF}`,
        ["Content-Type: text/html; charset=utf-8"],
      ),
    ),
    Buffer.from(
      mail("Meeting tomorrow", `Same time, same place.${CRLF}${CRLF}-- ${CRLF}Demo Sender${CRLF}`),
    ),
    Buffer.from(
      mail(
        "Large message (4 MiB attachment)",
        [
          "--big",
          "Content-Type: application/octet-stream",
          "Content-Transfer-Encoding: base64",
          "",
          big,
          "--big--",
          "",
        ].join(CRLF),
        ['Content-Type: multipart/mixed; boundary="big"'],
      ),
    ),
  ];
}

export function bobMessages(): Uint8Array[] {
  return [
    Buffer.from(
      mail("Hello Bob", `Bob's maildrop has one message.${CRLF}`).replace(
        "To: Alice <alice@example.org>",
        "To: Bob <bob@example.org>",
      ),
    ),
  ];
}
