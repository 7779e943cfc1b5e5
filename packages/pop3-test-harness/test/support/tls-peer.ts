import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createNetServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSecureContext, createServer as createTlsServer, TLSSocket } from "node:tls";

export interface Certificate {
  readonly key: string;
  /** Self-signed: also what the client trusts (`ca`). */
  readonly cert: string;
}

/**
 * A self-signed certificate whose only name is `altName` (`DNS:localhost`, `IP:127.0.0.1`), from
 * the openssl command line: the harness's `generateCertificate` always names both localhost and
 * 127.0.0.1, which would hide which name a client checked. The common name is no host name, since
 * Node falls back to it when there is no DNS name.
 */
export function certificateFor(altName: string): Certificate {
  const dir = mkdtempSync(join(tmpdir(), "pop3-harness-cert-"));
  try {
    const key = join(dir, "key.pem");
    const cert = join(dir, "cert.pem");
    execFileSync(
      "openssl",
      [
        ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
        ...["-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=pop3-harness test"],
        ...["-addext", `subjectAltName=${altName}`],
        ...["-addext", "basicConstraints=critical,CA:FALSE"],
        ...["-addext", "extendedKeyUsage=serverAuth"],
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    return { key: readFileSync(key, "utf8"), cert: readFileSync(cert, "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface TlsPeer {
  /** Cleartext port offering STLS. */
  readonly port: number;
  /** Implicit TLS port. */
  readonly tlsPort: number;
  /** The SNI of each finished handshake, in order (`false`: none was sent). */
  readonly sni: (string | false)[];
  close(): Promise<void>;
}

/**
 * A minimal POP3 server with `certificate` that records the SNI of every handshake: a greeting,
 * STLS and QUIT on both ports, anything else `-ERR`. pop3-server does not tell which name a
 * client sent, and what a client sends is the point here.
 */
export async function tlsPeer(certificate: Certificate): Promise<TlsPeer> {
  const sni: (string | false)[] = [];
  const sockets = new Set<Socket>();
  const secureContext = createSecureContext(certificate);
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
  };

  const converse = (socket: Socket, secure: boolean): void => {
    let buffered = "";
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString("latin1");
      for (let end = buffered.indexOf("\r\n"); end >= 0; end = buffered.indexOf("\r\n")) {
        const line = buffered.slice(0, end).toUpperCase();
        buffered = buffered.slice(end + 2);
        if (line === "QUIT") socket.end("+OK bye\r\n");
        else if (line === "STLS" && !secure) {
          socket.off("data", onData);
          socket.write("+OK begin TLS\r\n");
          const upgraded = new TLSSocket(socket, { isServer: true, secureContext });
          track(upgraded);
          upgraded.once("secure", () => {
            sni.push(upgraded.servername || false);
            converse(upgraded, true);
          });
          return;
        } else socket.write("-ERR not here\r\n");
      }
    };
    socket.on("data", onData);
  };

  const plain = createNetServer((socket) => {
    track(socket);
    socket.write("+OK tls peer ready\r\n");
    converse(socket, false);
  });
  const implicit = createTlsServer({ key: certificate.key, cert: certificate.cert }, (socket) => {
    track(socket);
    sni.push(socket.servername || false);
    socket.write("+OK tls peer ready\r\n");
    converse(socket, true);
  });
  implicit.on("tlsClientError", () => {});
  const listen = (server: Server): Promise<number> =>
    new Promise((resolve) =>
      server.listen(0, "127.0.0.1", () => {
        const address = server.address();
        resolve(typeof address === "object" && address !== null ? address.port : 0);
      }),
    );
  const port = await listen(plain);
  const tlsPort = await listen(implicit);
  return {
    port,
    tlsPort,
    sni,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await Promise.all(
        [plain, implicit].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
      );
    },
  };
}
