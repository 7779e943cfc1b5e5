import { isIP } from "node:net";

export interface TestCertificate {
  /** PEM private key. */
  readonly key: string;
  /** PEM certificate; also what a client must trust (`ca`). */
  readonly cert: string;
}

export interface CertificateOptions {
  readonly commonName?: string;
  /** More host names, besides `localhost`, the common name and 127.0.0.1. */
  readonly altNames?: readonly string[];
  /**
   * Exactly these names (host names or IP addresses) and no others: for testing how a client
   * checks names, e.g. `["127.0.0.1"]` or `["localhost"]` alone. The common name is then not a
   * host name, so no client can fall back to it.
   */
  readonly onlyNames?: readonly string[];
  readonly days?: number;
}

/**
 * A self-signed certificate for `localhost` and 127.0.0.1 (plus any extra names), valid for a
 * week: for test servers and the demo, never for production.
 */
export async function generateCertificate(
  options: CertificateOptions = {},
): Promise<TestCertificate> {
  const only = options.onlyNames;
  const commonName = options.commonName ?? (only === undefined ? "localhost" : "pop3 test");
  const names = only ?? [
    ...new Set([commonName, "localhost", ...(options.altNames ?? []), "127.0.0.1"]),
  ];
  const notAfter = new Date(Date.now() + (options.days ?? 7) * 86_400_000);
  // Loaded here, not at the top: selfsigned brings a whole X.509 and crypto stack (pkijs,
  // @peculiar/x509) that a harness used without TLS should not pay for at import time.
  const { generate } = await import("selfsigned");
  const pems = await generate([{ name: "commonName", value: commonName }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    notAfterDate: notAfter,
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: names.map((name) =>
          isIP(name) === 0 ? { type: 2 as const, value: name } : { type: 7 as const, ip: name },
        ),
      },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}
