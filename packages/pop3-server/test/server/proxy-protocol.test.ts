import { afterEach, describe, expect, it } from "vitest";
import {
  type Logger,
  type MemoryStore,
  parseProxyHeader,
  type ServerOptions,
} from "../../src/index";
import { formatIPv6, V2_SIGNATURE } from "../../src/proxy-protocol";
import { RawClient, startServer, type TestServer, USERS } from "../support";

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
const bytes = (...parts: (Uint8Array | number[])[]): Uint8Array =>
  Uint8Array.from(parts.flatMap((p) => [...p]));

/** A v2 header: signature, version/command, family/protocol, length, then `body`. */
function v2(verCmd: number, fam: number, body: number[], declared = body.length): Uint8Array {
  return bytes(V2_SIGNATURE, [verCmd, fam, declared >> 8, declared & 0xff], body);
}

const V4_BODY = [192, 168, 0, 1, 192, 168, 0, 11, 0xdc, 0x04, 0x01, 0xbb]; // :56324 -> :443
const V6_SRC = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01]; // 2001:db8::1
const V6_DST = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02];

describe("parseProxyHeader: version 1 (proxy-protocol.txt §2.1)", () => {
  it("parses the spec's TCP4 example and says where the header ends", () => {
    const input = ascii("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n");
    expect(parseProxyHeader(input)).toEqual({
      status: "done",
      length: 47,
      header: {
        version: 1,
        command: "PROXY",
        protocol: "TCP4",
        source: { address: "192.168.0.1", port: 56324 },
        destination: { address: "192.168.0.11", port: 443 },
      },
    });
  });

  it("accepts the longest lines of each kind: 56 (TCP4), 104 (TCP6) and 107 (UNKNOWN) bytes", () => {
    const v6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    const tcp4 = ascii("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n");
    const tcp6 = ascii(`PROXY TCP6 ${v6} ${v6} 65535 65535\r\n`);
    const unknown = ascii(`PROXY UNKNOWN ${v6} ${v6} 65535 65535\r\n`);
    expect([tcp4.length, tcp6.length, unknown.length]).toEqual([56, 104, 107]);
    expect(parseProxyHeader(tcp4)).toMatchObject({ status: "done", length: 56 });
    expect(parseProxyHeader(tcp6)).toMatchObject({
      status: "done",
      length: 104,
      header: { protocol: "TCP6", source: { address: v6, port: 65535 } },
    });
    expect(parseProxyHeader(unknown)).toEqual({
      status: "done",
      length: 107,
      header: { version: 1, command: "PROXY", protocol: "UNKNOWN" },
    });
    expect(parseProxyHeader(ascii("PROXY UNKNOWN\r\n"))).toMatchObject({
      status: "done",
      length: 15,
    });
  });

  it("normalises TCP6 addresses the way Node shows them", () => {
    const result = parseProxyHeader(ascii("PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::1 1 2\r\n"));
    expect(result).toMatchObject({
      status: "done",
      header: { source: { address: "2001:db8::1" }, destination: { address: "::1" } },
    });
  });

  it("waits for more bytes at every split point, then parses the whole header", () => {
    const input = ascii("PROXY TCP4 10.1.2.3 10.0.0.1 40000 110\r\nCAPA\r\n");
    for (let cut = 0; cut < 40; cut++) {
      expect(parseProxyHeader(input.subarray(0, cut)), `cut at ${cut}`).toEqual({
        status: "incomplete",
      });
    }
    expect(parseProxyHeader(input.subarray(0, 40))).toMatchObject({ status: "done", length: 40 });
  });

  it.each([
    ["lower-case keyword", "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"],
    ["unknown protocol", "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"],
    ["leading zero in an address", "PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n"],
    ["address out of range", "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n"],
    ["IPv6 address for TCP4", "PROXY TCP4 ::1 5.6.7.8 1 2\r\n"],
    ["IPv4 address for TCP6", "PROXY TCP6 1.2.3.4 ::1 1 2\r\n"],
    ["IPv6 with a dotted tail", "PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n"],
    ["IPv6 zone", "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n"],
    ["port with a leading zero", "PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n"],
    ["port out of range", "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"],
    ["two spaces", "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"],
    ["trailing space", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n"],
    ["missing field", "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"],
    ["bare LF", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"],
    ["CR without LF", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX"],
    ["a POP3 command", "USER alice\r\n"],
  ])("rejects %s", (_, line) => {
    expect(parseProxyHeader(ascii(line))).toMatchObject({ status: "invalid" });
  });

  it("rejects a line with no CRLF in the first 107 bytes, without waiting for more", () => {
    const long = ascii(`PROXY UNKNOWN ${"f".repeat(200)}`);
    expect(parseProxyHeader(long.subarray(0, 106))).toEqual({ status: "incomplete" });
    expect(parseProxyHeader(long.subarray(0, 107))).toMatchObject({ status: "invalid" });
    // CR at byte 107 (LF would be the 108th byte): too long as well.
    const late = bytes(ascii(`PROXY UNKNOWN ${"f".repeat(92)}`), [0x0d, 0x0a]);
    expect(late.length).toBe(108);
    expect(parseProxyHeader(late)).toMatchObject({ status: "invalid" });
  });
});

describe("parseProxyHeader: version 2 (proxy-protocol.txt §2.2)", () => {
  it("parses PROXY TCP over IPv4 (\\x21 \\x11, 12 address bytes)", () => {
    const header = v2(0x21, 0x11, V4_BODY);
    expect(header.length).toBe(28);
    expect(parseProxyHeader(bytes(header, ascii("rest")))).toEqual({
      status: "done",
      length: 28,
      header: {
        version: 2,
        command: "PROXY",
        protocol: "TCP4",
        source: { address: "192.168.0.1", port: 56324 },
        destination: { address: "192.168.0.11", port: 443 },
      },
    });
  });

  it("parses PROXY TCP over IPv6 (\\x21 \\x21, 36 address bytes)", () => {
    const header = v2(0x21, 0x21, [...V6_SRC, ...V6_DST, 0x9c, 0x40, 0x00, 0x6e]);
    expect(parseProxyHeader(header)).toEqual({
      status: "done",
      length: 52,
      header: {
        version: 2,
        command: "PROXY",
        protocol: "TCP6",
        source: { address: "2001:db8::1", port: 40000 },
        destination: { address: "2001:db8::2", port: 110 },
      },
    });
  });

  it("accepts LOCAL (health checks) and skips whatever address block it has", () => {
    expect(parseProxyHeader(v2(0x20, 0x00, []))).toEqual({
      status: "done",
      length: 16,
      header: { version: 2, command: "LOCAL", protocol: "UNKNOWN" },
    });
    expect(parseProxyHeader(v2(0x20, 0x11, V4_BODY))).toMatchObject({
      status: "done",
      length: 28,
      header: { command: "LOCAL" },
    });
  });

  it("skips TLVs after the addresses (the length covers them)", () => {
    const noop = [0x04, 0x00, 0x03, 1, 2, 3]; // PP2_TYPE_NOOP
    const uniqueId = [0x05, 0x00, 0x02, 0xaa, 0xbb]; // PP2_TYPE_UNIQUE_ID
    const header = v2(0x21, 0x11, [...V4_BODY, ...noop, ...uniqueId]);
    expect(parseProxyHeader(bytes(header, ascii("CAPA\r\n")))).toMatchObject({
      status: "done",
      length: 16 + 12 + 6 + 5,
      header: { protocol: "TCP4", source: { address: "192.168.0.1" } },
    });
  });

  it("falls back to the real endpoints for UNSPEC, UDP and UNIX", () => {
    for (const [fam, size] of [
      [0x00, 0],
      [0x12, 12],
      [0x22, 36],
      [0x31, 216],
      [0x32, 216],
    ] as const) {
      expect(parseProxyHeader(v2(0x21, fam, new Array<number>(size).fill(0)))).toEqual({
        status: "done",
        length: 16 + size,
        header: { version: 2, command: "PROXY", protocol: "UNKNOWN" },
      });
    }
  });

  it("waits for more bytes at every split point of signature, header and addresses", () => {
    const header = v2(0x21, 0x11, V4_BODY);
    for (let cut = 0; cut < header.length; cut++) {
      expect(parseProxyHeader(header.subarray(0, cut)), `cut at ${cut}`).toEqual({
        status: "incomplete",
      });
    }
    expect(parseProxyHeader(header)).toMatchObject({ status: "done", length: 28 });
  });

  it.each([
    ["version 1 in the v2 format", v2(0x11, 0x11, V4_BODY)],
    ["version 3", v2(0x31, 0x11, V4_BODY)],
    ["an unassigned command", v2(0x22, 0x11, V4_BODY)],
    ["an unknown family", v2(0x21, 0x41, V4_BODY)],
    ["an unknown protocol", v2(0x21, 0x13, V4_BODY)],
    ["AF_INET without a protocol", v2(0x21, 0x10, V4_BODY)],
    ["an address block shorter than the family's", v2(0x21, 0x11, V4_BODY.slice(0, 8))],
    ["a broken signature", bytes(V2_SIGNATURE.slice(0, 11), [0x0b, 0x21, 0x11, 0, 12])],
    ["a TLS ClientHello", Uint8Array.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])],
  ])("rejects %s", (_, input) => {
    expect(parseProxyHeader(input)).toMatchObject({ status: "invalid" });
  });

  it("rejects early: a wrong byte inside the signature is invalid at once", () => {
    expect(parseProxyHeader(Uint8Array.from([0x0d, 0x0a, 0x0d, 0x0b]))).toMatchObject({
      status: "invalid",
    });
    expect(parseProxyHeader(Uint8Array.from([0x0d, 0x0a, 0x0d]))).toEqual({
      status: "incomplete",
    });
  });
});

describe("formatIPv6", () => {
  it.each([
    ["2001:db8::1", [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]],
    ["::", new Array(16).fill(0)],
    ["::1", [...new Array(15).fill(0), 1]],
    ["1::", [0, 1, ...new Array(14).fill(0)]],
    ["::ffff:10.0.0.1", [...new Array(10).fill(0), 0xff, 0xff, 10, 0, 0, 1]],
    ["1:0:1:1:1:1:1:1", [0, 1, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]],
    ["1::1:0:0:1", [0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]],
  ])("%s", (text, groups) => {
    expect(formatIPv6(Uint8Array.from(groups))).toBe(text);
  });
});

// ---- listeners with proxyProtocol: true ----

interface LogLine {
  readonly level: string;
  readonly fields: Record<string, unknown>;
  readonly message: string;
}

function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at =
    (level: string) =>
    (fields: Record<string, unknown>, message: string): void => {
      lines.push({ level, fields, message });
    };
  return {
    lines,
    logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") },
  };
}

const v1 = (src: string, sport = 40000): string => `PROXY TCP4 ${src} 127.0.0.1 ${sport} 110\r\n`;

describe("listeners with proxyProtocol", () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function start(overrides: Partial<ServerOptions> = {}) {
    const { logger, lines } = captureLogger();
    server = await startServer({
      plain: { host: "127.0.0.1", port: 0, proxyProtocol: true },
      implicitTls: { host: "127.0.0.1", port: 0, proxyProtocol: true },
      logger,
      ...overrides,
    });
    (server.store as MemoryStore).addMessage("alice", "Subject: hi\r\n\r\nhello\r\n");
    return { server, lines };
  }

  it("takes the client address from a v1 header sent with the first command", async () => {
    const { server, lines } = await start();
    const client = await RawClient.connect(server.port);
    client.send(`${v1("203.0.113.7")}`);
    await client.login("alice", USERS.alice);
    expect(await client.command("STAT")).toMatch(/^\+OK 1 /);
    const login = lines.find((l) => l.message === "logged in");
    expect(login?.fields["address"]).toBe("203.0.113.7");
    expect(await client.command("QUIT")).toMatch(/^\+OK/);
  });

  it("reads a v2 header split across several TCP segments, and pipelined bytes after it", async () => {
    const { server, lines } = await start();
    const client = await RawClient.connect(server.port);
    client.socket.setNoDelay(true);
    const header = v2(0x21, 0x21, [...V6_SRC, ...V6_DST, 0x9c, 0x40, 0x00, 0x6e]);
    for (const piece of [header.subarray(0, 5), header.subarray(5, 14), header.subarray(14)]) {
      client.send(piece);
      await new Promise((r) => setTimeout(r, 30));
    }
    expect(await client.line()).toMatch(/^\+OK/);
    client.send(`USER alice\r\nPASS ${USERS.alice}\r\n`);
    expect(await client.line()).toMatch(/^\+OK/);
    expect(await client.line()).toMatch(/^\+OK/);
    expect(lines.find((l) => l.message === "logged in")?.fields["address"]).toBe("2001:db8::1");
    client.close();
  });

  it("the header and the first command in one segment: nothing is lost", async () => {
    const { server } = await start();
    const client = await RawClient.connect(server.port);
    client.send(`${v1("198.51.100.1")}CAPA\r\n`);
    expect(await client.line()).toMatch(/^\+OK/);
    expect(await client.line()).toMatch(/^\+OK/);
    expect(await client.lines()).toContain("PIPELINING");
    client.close();
  });

  it("closes connections without a valid header, before any greeting", async () => {
    const { server, lines } = await start();
    const badFamily = bytes(V2_SIGNATURE, [0x21, 0x51, 0, 0]);
    for (const first of ["USER alice\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", badFamily]) {
      const client = await RawClient.connect(server.port);
      client.send(first);
      expect(await client.line()).toBeUndefined();
      await client.closed();
    }
    expect(lines.filter((l) => l.message.startsWith("PROXY header missing"))).toHaveLength(3);
  });

  it("closes a connection whose header does not come in time", async () => {
    const { server } = await start({ limits: { proxyHeaderTimeoutMs: 300 } });
    const client = await RawClient.connect(server.port);
    const started = Date.now();
    client.send("PROXY TCP4 1.2.3.4");
    await client.closed(5000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(client.ended).toBe(true);
  });

  it("LOCAL (a proxy health check) and UNKNOWN use the socket's own address", async () => {
    const { server, lines } = await start();
    const local = await RawClient.connect(server.port);
    local.send(v2(0x20, 0x00, []));
    await local.login("alice", USERS.alice);
    local.close();
    await new Promise((r) => setTimeout(r, 100));
    const unknown = await RawClient.connect(server.port);
    unknown.send("PROXY UNKNOWN\r\n");
    await unknown.login("alice", USERS.alice);
    unknown.close();
    const addresses = lines
      .filter((l) => l.message === "logged in")
      .map((l) => l.fields["address"]);
    expect(addresses).toEqual(["127.0.0.1", "127.0.0.1"]);
  });

  it("implicit TLS: the header comes first on the raw socket, then the TLS handshake", async () => {
    const { server, lines } = await start();
    const client = await RawClient.connect(server.tlsPort);
    client.send(v2(0x21, 0x11, [192, 0, 2, 44, 127, 0, 0, 1, 0x9c, 0x41, 0x03, 0xe3]));
    await client.startTls();
    expect(client.tlsSocket?.encrypted).toBe(true);
    await client.login("alice", USERS.alice);
    expect(await client.command("CAPA")).toMatch(/^\+OK/);
    expect(await client.lines()).not.toContain("STLS");
    expect(lines.find((l) => l.message === "logged in")?.fields["address"]).toBe("192.0.2.44");
    client.close();
  });

  it("implicit TLS: a TLS ClientHello without a header is refused", async () => {
    const { server } = await start();
    const client = await RawClient.connect(server.tlsPort);
    await expect(client.startTls()).rejects.toThrow();
  });

  it("limits connections per real client address, not per proxy", async () => {
    const { server } = await start({
      limits: { maxConnectionsPerAddress: 2 },
    });
    const open: RawClient[] = [];
    for (let i = 0; i < 2; i++) {
      const client = await RawClient.connect(server.port);
      client.send(v1("203.0.113.9", 40000 + i));
      expect(await client.line()).toMatch(/^\+OK/);
      open.push(client);
    }
    const third = await RawClient.connect(server.port);
    third.send(v1("203.0.113.9", 40003));
    expect(await third.line()).toBe("-ERR [SYS/TEMP] too many connections, try later");
    const other = await RawClient.connect(server.port);
    other.send(v1("203.0.113.10"));
    expect(await other.line()).toMatch(/^\+OK/);
    for (const client of [...open, third, other]) client.close();
  });

  it("throttles failed logins by the real address", async () => {
    const { server } = await start({ limits: { failedLoginDelayMs: 400 } });
    const attacker = await RawClient.connect(server.port);
    attacker.send(v1("203.0.113.66"));
    await attacker.line();
    await attacker.command("USER alice");
    expect(await attacker.command("PASS wrong")).toMatch(/^-ERR \[AUTH\]/);
    // Another client (another real address, same proxy) is not slowed down by it.
    const other = await RawClient.connect(server.port);
    other.send(v1("203.0.113.67"));
    await other.line();
    await other.command("USER bob");
    const started = Date.now();
    expect(await other.command(`PASS ${USERS.bob}`)).toMatch(/^\+OK/);
    expect(Date.now() - started).toBeLessThan(350);
    // The same real address is.
    const again = await RawClient.connect(server.port);
    again.send(v1("203.0.113.66"));
    await again.line();
    await again.command("USER alice");
    const before = Date.now();
    expect(await again.command(`PASS ${USERS.alice}`)).toMatch(/^\+OK/);
    expect(Date.now() - before).toBeGreaterThanOrEqual(350);
    for (const client of [attacker, other, again]) client.close();
  });
});
