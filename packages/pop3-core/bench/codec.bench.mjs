// Codec throughput against the ceiling of a plain copy of the same bytes (issue: codec >= 0.25x copy).
// Runs on the built package (dist), so it measures what users get. Timings are printed, never asserted.
import { Bench } from "tinybench";
import { MultilineDecoder, MultilineEncoder } from "../dist/index.js";

const SIZE = Number(process.env.BENCH_CODEC_BYTES ?? 10 * 1024 * 1024);
const CHUNK = 64 * 1024; // what a socket typically hands over
const TIME = Number(process.env.BENCH_TIME_MS ?? 1000);

function makeRandom(seed) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
}

const WORDS =
  "the of and to in is that for it as was with be by on not he this are or his from at which but have an they you were her she there been one all we their has would when".split(
    " ",
  );
const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Prose lines of about 76 bytes: sentences ending in dots, a line in 40 starting with a dot, some 8-bit. */
function proseLine(random, index) {
  let line = index % 40 === 0 ? "." : "";
  while (line.length < 70) {
    line += WORDS[random() % WORDS.length];
    line += random() % 9 === 0 ? ". " : random() % 50 === 0 ? "\u00e9 " : " ";
  }
  return `${line}\r\n`;
}

/** A base64 attachment line: 76 characters, as MIME writes them. */
function base64Line(random) {
  let line = "";
  for (let i = 0; i < 76; i++) line += BASE64[random() % 64];
  return `${line}\r\n`;
}

/**
 * Ordinary mail of `size` bytes. "mixed": headers, a text part (10 %), then a base64 attachment,
 * which is what a 10 MB message is in practice. "prose": text lines only, the worst case.
 */
function makeMessage(size, kind) {
  const random = makeRandom(42);
  const encoder = new TextEncoder();
  const out = new Uint8Array(size);
  let pos = 0;
  const put = (text) => {
    const bytes = encoder.encode(text).subarray(0, size - pos);
    out.set(bytes, pos);
    pos += bytes.length;
  };
  put(
    "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: report\r\nMIME-Version: 1.0\r\n\r\n",
  );
  const textEnd = kind === "prose" ? size : size / 10;
  for (let line = 0; pos < textEnd; line++) put(proseLine(random, line));
  while (pos < size) put(base64Line(random));
  return out;
}

function chunks(bytes) {
  const parts = [];
  for (let i = 0; i < bytes.length; i += CHUNK) parts.push(bytes.subarray(i, i + CHUNK));
  return parts;
}

let sink = 0;

function encodeWhole(messageChunks) {
  const encoder = new MultilineEncoder();
  const parts = messageChunks.map((c) => encoder.push(c).slice());
  parts.push(encoder.end());
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

async function measure(kind) {
  const message = makeMessage(SIZE, kind);
  const messageChunks = chunks(message);
  const encoded = encodeWhole(messageChunks);
  const encodedChunks = chunks(encoded);
  const target = new Uint8Array(encoded.length);

  const bench = new Bench({ time: TIME, warmupTime: Math.min(500, TIME) });
  bench
    .add("copy (Uint8Array.prototype.set)", () => {
      let offset = 0;
      for (const c of messageChunks) {
        target.set(c, offset);
        offset += c.length;
      }
      sink += target[offset - 1];
    })
    .add("encode (dot-stuff + CRLF-normalise)", () => {
      const encoder = new MultilineEncoder();
      for (const c of messageChunks) sink += encoder.push(c).length;
      sink += encoder.end().length;
    })
    .add("decode (find terminator + unstuff)", () => {
      const decoder = new MultilineDecoder();
      for (const c of encodedChunks) {
        const result = decoder.push(c);
        for (const d of result.data) sink += d.length;
      }
      if (!decoder.done) throw new Error("decoder did not find the terminator");
    })
    .add("decode + copy out (a consumer that keeps the bytes)", () => {
      const decoder = new MultilineDecoder();
      let offset = 0;
      for (const c of encodedChunks) {
        for (const d of decoder.push(c).data) {
          target.set(d, offset);
          offset += d.length;
        }
      }
      sink += offset;
    });
  await bench.run();

  const mbps = (task) => SIZE / (task.result.latency.mean / 1000) / 1e6;
  const [copy, ...codecs] = bench.tasks;
  const copySpeed = mbps(copy);
  console.log(
    `\npop3-core codec, ${(SIZE / 1e6).toFixed(1)} MB of ${kind} mail in ${CHUNK / 1024} KiB chunks, Node ${process.version}`,
  );
  console.log("| task | MB/s | ratio to copy |");
  console.log("| --- | ---: | ---: |");
  for (const task of [copy, ...codecs]) {
    const speed = mbps(task);
    console.log(`| ${task.name} | ${speed.toFixed(0)} | ${(speed / copySpeed).toFixed(3)}x |`);
  }
}

await measure("mixed");
await measure("prose");
if (sink === -1) console.log(sink);
