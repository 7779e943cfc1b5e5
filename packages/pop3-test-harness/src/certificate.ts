export interface TestCertificate {
  /** PEM private key. */
  readonly key: string;
  /** PEM certificate; also what a client must trust (`ca`). */
  readonly cert: string;
}

/**
 * A self-signed certificate for `localhost` and 127.0.0.1 (plus any extra names), valid for a
 * week: for test servers and the demo, never for production.
 */
export async function generateCertificate(
  options: { commonName?: string; altNames?: readonly string[]; days?: number } = {},
): Promise<TestCertificate> {
  const commonName = options.commonName ?? "localhost";
  const names = [...new Set([commonName, "localhost", ...(options.altNames ?? [])])];
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
        altNames: [
          ...names.map((value) => ({ type: 2 as const, value })),
          { type: 7 as const, ip: "127.0.0.1" },
        ],
      },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}
