/**
 * A strict parser for the PROXY protocol header, versions 1 (text) and 2 (binary), as HAProxy's
 * proxy-protocol.txt specifies it, and a bounded, timed reader of it on a raw socket.
 *
 * Only TCP over IPv4 and IPv6 carry addresses that we use; the v1 `UNKNOWN` protocol, the v2
 * LOCAL command (a proxy's health check) and the v2 families we do not use (UNSPEC, UDP, UNIX)
 * are accepted and mean "use the real connection's address". Anything else is invalid and the
 * connection must be closed.
 */
import { isIPv6, type Socket } from "node:net";

/** Longest v1 line, CRLF included (`PROXY UNKNOWN <v6> <v6> 65535 65535\r\n`). */
export const MAX_V1_HEADER_LENGTH = 107;
/** The v2 header: 12-byte signature, version/command, family/protocol, 16-bit length. */
export const V2_SIGNATURE = Uint8Array.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);
const V1_PREFIX = Uint8Array.from([0x50, 0x52, 0x4f, 0x58, 0x59, 0x20]); // "PROXY "

export interface ProxyEndpoint {
  readonly address: string;
  readonly port: number;
}

export interface ProxyHeader {
  readonly version: 1 | 2;
  /** `LOCAL`: the proxy's own connection (health check); use the real endpoints. */
  readonly command: "PROXY" | "LOCAL";
  /** `TCP4`/`TCP6` when the header carries the client's addresses; `UNKNOWN` otherwise. */
  readonly protocol: "TCP4" | "TCP6" | "UNKNOWN";
  /** The client (set for TCP4 and TCP6). */
  readonly source?: ProxyEndpoint;
  /** The address the client connected to (set for TCP4 and TCP6). */
  readonly destination?: ProxyEndpoint;
}

export type ProxyParseResult =
  | { readonly status: "incomplete" }
  | { readonly status: "invalid"; readonly reason: string }
  | { readonly status: "done"; readonly header: ProxyHeader; readonly length: number };

const INCOMPLETE: ProxyParseResult = { status: "incomplete" };
const invalid = (reason: string): ProxyParseResult => ({ status: "invalid", reason });

/**
 * Parses the header at the start of `bytes`: `done` with the header and its length in bytes (what
 * follows belongs to the application protocol), `incomplete` when more bytes are needed (never
 * past the header's maximum length), or `invalid` as soon as the bytes can not be a valid header.
 */
export function parseProxyHeader(bytes: Uint8Array): ProxyParseResult {
  if (bytes.length === 0) return INCOMPLETE;
  if (bytes[0] === V2_SIGNATURE[0]) return parseV2(bytes);
  if (bytes[0] === V1_PREFIX[0]) return parseV1(bytes);
  return invalid("not a PROXY protocol header");
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean | "partial" {
  const n = Math.min(bytes.length, prefix.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== prefix[i]) return false;
  return n < prefix.length ? "partial" : true;
}

// ---- version 1 ----

function parseV1(bytes: Uint8Array): ProxyParseResult {
  const prefix = startsWith(bytes, V1_PREFIX);
  if (prefix === false) return invalid("not a PROXY protocol header");
  if (prefix === "partial") return INCOMPLETE;
  const limit = Math.min(bytes.length, MAX_V1_HEADER_LENGTH);
  let cr = -1;
  for (let i = 0; i < limit; i++) {
    const b = bytes[i] as number;
    if (b === 0x0d) {
      cr = i;
      break;
    }
    // Printable US-ASCII only; a lone LF never ends the line.
    if (b < 0x20 || b > 0x7e) return invalid("v1: invalid character in the header line");
  }
  if (cr === -1) {
    return bytes.length >= MAX_V1_HEADER_LENGTH ? invalid("v1: no CRLF in 107 bytes") : INCOMPLETE;
  }
  if (cr + 1 >= MAX_V1_HEADER_LENGTH) return invalid("v1: no CRLF in 107 bytes");
  if (cr + 1 >= bytes.length) return INCOMPLETE;
  if (bytes[cr + 1] !== 0x0a) return invalid("v1: CR not followed by LF");
  const line = String.fromCharCode(...bytes.subarray(0, cr));
  const length = cr + 2;
  const parts = line.split(" ");
  const protocol = parts[1];
  if (protocol === "UNKNOWN") {
    // The rest of an UNKNOWN line is to be ignored.
    return { status: "done", length, header: { version: 1, command: "PROXY", protocol } };
  }
  if (protocol !== "TCP4" && protocol !== "TCP6") return invalid("v1: unknown protocol");
  if (parts.length !== 6) return invalid("v1: expected 4 fields after the protocol");
  const [, , src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  const validAddress = protocol === "TCP4" ? isStrictIPv4 : isStrictIPv6;
  if (!validAddress(src) || !validAddress(dst)) return invalid(`v1: invalid ${protocol} address`);
  const sourcePort = strictPort(sport);
  const destinationPort = strictPort(dport);
  if (sourcePort === undefined || destinationPort === undefined) return invalid("v1: invalid port");
  return {
    status: "done",
    length,
    header: {
      version: 1,
      command: "PROXY",
      protocol,
      source: { address: protocol === "TCP6" ? formatIPv6(parseIPv6(src)) : src, port: sourcePort },
      destination: {
        address: protocol === "TCP6" ? formatIPv6(parseIPv6(dst)) : dst,
        port: destinationPort,
      },
    },
  };
}

/** Four decimal numbers 0-255, no leading zeros (they could be read as octal). */
function isStrictIPv4(text: string): boolean {
  const parts = text.split(".");
  return (
    parts.length === 4 && parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)
  );
}

/** Hex groups and at most one `::`, 128 bits: no zone, no dotted IPv4 tail. */
function isStrictIPv6(text: string): boolean {
  return /^[0-9A-Fa-f:]+$/.test(text) && isIPv6(text);
}

function strictPort(text: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

/** The 16 bytes of a valid (checked) IPv6 text address without a dotted tail. */
function parseIPv6(text: string): Uint8Array {
  const [head = "", tail] = text.split("::") as [string, string | undefined];
  const groups = (s: string): number[] =>
    s === "" ? [] : s.split(":").map((g) => parseInt(g, 16));
  const front = groups(head);
  const back = tail === undefined ? [] : groups(tail);
  const all = [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

// ---- version 2 ----

function parseV2(bytes: Uint8Array): ProxyParseResult {
  const signature = startsWith(bytes, V2_SIGNATURE);
  if (signature === false) return invalid("not a PROXY protocol header");
  if (signature === "partial") return INCOMPLETE;
  if (bytes.length < 13) return INCOMPLETE;
  const versionCommand = bytes[12] as number;
  if (versionCommand >> 4 !== 2) return invalid("v2: unsupported version");
  const commandBits = versionCommand & 0x0f;
  if (commandBits > 1) return invalid("v2: unknown command");
  if (bytes.length < 14) return INCOMPLETE;
  const familyProtocol = bytes[13] as number;
  // UNSPEC, TCP/UDP over IPv4 and IPv6, UNIX stream/datagram: nothing else exists.
  const required: Record<number, number> = {
    0: 0,
    17: 12,
    18: 12,
    33: 36,
    34: 36,
    49: 216,
    50: 216,
  };
  const addressLength = required[familyProtocol];
  if (addressLength === undefined) return invalid("v2: unknown address family or protocol");
  if (bytes.length < 16) return INCOMPLETE;
  const declared = ((bytes[14] as number) << 8) | (bytes[15] as number);
  const length = 16 + declared;
  if (bytes.length < length) return INCOMPLETE;
  if (commandBits === 0) {
    // LOCAL: the address block, whatever it holds, is skipped.
    return {
      status: "done",
      length,
      header: { version: 2, command: "LOCAL", protocol: "UNKNOWN" },
    };
  }
  if (declared < addressLength) return invalid("v2: address block shorter than its family needs");
  const view = new DataView(bytes.buffer, bytes.byteOffset + 16, declared);
  if (familyProtocol === 0x11) {
    const v4 = (at: number): string => bytes.subarray(16 + at, 20 + at).join(".");
    return {
      status: "done",
      length,
      header: {
        version: 2,
        command: "PROXY",
        protocol: "TCP4",
        source: { address: v4(0), port: view.getUint16(8) },
        destination: { address: v4(4), port: view.getUint16(10) },
      },
    };
  }
  if (familyProtocol === 0x21) {
    const v6 = (at: number): string => formatIPv6(bytes.subarray(16 + at, 32 + at));
    return {
      status: "done",
      length,
      header: {
        version: 2,
        command: "PROXY",
        protocol: "TCP6",
        source: { address: v6(0), port: view.getUint16(32) },
        destination: { address: v6(16), port: view.getUint16(34) },
      },
    };
  }
  // UNSPEC, UDP, UNIX: valid, but not a TCP client address we could use.
  return { status: "done", length, header: { version: 2, command: "PROXY", protocol: "UNKNOWN" } };
}

/**
 * RFC 5952 text of 16 bytes, the way Node shows `socket.remoteAddress`: lower-case hex, the
 * longest run of two or more zero groups as `::`, and `::ffff:a.b.c.d` for IPv4-mapped addresses.
 */
export function formatIPv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2)
    groups.push(((bytes[i] as number) << 8) | (bytes[i + 1] as number));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes.subarray(12, 16).join(".")}`;
  }
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(":");
  if (bestStart === -1) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

// ---- reading it from a socket ----

/** The header was missing, invalid, late, or the connection ended before it was complete. */
export class ProxyHeaderError extends Error {
  override readonly name = "ProxyHeaderError";
}

/**
 * Reads the PROXY header from the start of `socket`, buffering at most the header's maximum
 * length (107 bytes for v1, 16 + 65535 for v2), for at most `timeoutMs`. Resolves with the header
 * once it is complete: the socket is then paused and the bytes after the header are put back
 * (`unshift`), so the next reader (a POP3 connection, or a `TLSSocket` wrapping it) gets the
 * stream exactly as the client sent it. Rejects with `ProxyHeaderError`; the caller closes the
 * socket.
 */
export function readProxyHeader(socket: Socket, timeoutMs: number): Promise<ProxyHeader> {
  return new Promise((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0);
    const finish = (error: Error | undefined, header?: ProxyHeader): void => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("close", onEnd);
      socket.off("error", onError);
      if (error !== undefined) reject(error);
      else resolve(header as ProxyHeader);
    };
    const onData = (chunk: Buffer): void => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      const result = parseProxyHeader(buffered);
      if (result.status === "incomplete") return;
      if (result.status === "invalid") {
        finish(new ProxyHeaderError(result.reason));
        return;
      }
      socket.pause();
      const rest = buffered.subarray(result.length);
      if (rest.length > 0) socket.unshift(rest);
      finish(undefined, result.header);
    };
    const onEnd = (): void => finish(new ProxyHeaderError("connection ended before the header"));
    const onError = (error: Error): void => finish(new ProxyHeaderError(error.message));
    const timer = setTimeout(
      () => finish(new ProxyHeaderError(`no complete header within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on("data", onData);
    socket.once("end", onEnd);
    socket.once("close", onEnd);
    socket.on("error", onError);
  });
}
