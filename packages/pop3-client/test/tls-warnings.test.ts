import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "../src/index";
import { type Certificate, certificateFor, type TlsPeer, tlsPeer } from "./tls-peer";

/**
 * Node warns once per process (DEP0123) when TLS is given an IP address as server name, which
 * RFC 6066 §3 does not allow. The client once did that for `host: "127.0.0.1"`, and the CLI hid the
 * warning by patching `process.emitWarning`; the client now sends no server name for an IP. This
 * file runs in its own worker: the client connects first, then a plain `tls.connect` with an IP
 * server name proves that the warning had not been used up, so its absence means something.
 */
describe("TLS to an IP address", () => {
  let certificate: Certificate;
  let peer: TlsPeer;
  const warnings: Error[] = [];
  const onWarning = (warning: Error): void => {
    warnings.push(warning);
  };

  beforeAll(async () => {
    certificate = certificateFor("IP:127.0.0.1");
    peer = await tlsPeer(certificate);
    process.on("warning", onWarning);
  });
  afterAll(async () => {
    process.off("warning", onWarning);
    await peer?.close();
  });

  const dep0123 = (): Error[] =>
    warnings.filter((w) => (w as Error & { code?: string }).code === "DEP0123");
  /** Warnings are emitted on the next tick after `process.emitWarning`. */
  const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  it("gives no DEP0123 warning with implicit TLS or STLS", async () => {
    for (const tls of ["implicit", "starttls"] as const) {
      await using client = await connect({
        host: "127.0.0.1",
        port: tls === "implicit" ? peer.tlsPort : peer.port,
        tls,
        tlsOptions: { ca: certificate.cert },
      });
      expect(client.secure).toBe(true);
      expect(client.tlsInfo?.authorized).toBe(true);
    }
    await settle();
    expect(dep0123()).toEqual([]);

    // The control: the same process still warns when a server name is an IP address.
    const socket = tlsConnect({
      host: "127.0.0.1",
      port: peer.tlsPort,
      servername: "127.0.0.1",
      ca: certificate.cert,
    });
    socket.on("error", () => {});
    await new Promise<void>((resolve) => socket.once("secureConnect", () => resolve()));
    socket.destroy();
    await settle();
    expect(dep0123()).toHaveLength(1);
  });
});
