import { serializeCapabilities } from "pop3-core";
import { afterEach, describe, expect, it } from "vitest";
import type { Authenticator } from "../../src/auth/types";
import type { ServerContext } from "../../src/context";
import {
  CLEARTEXT_REFUSED,
  capabilities,
  cleartextAllowed,
  mechanismRefusal,
  usableMechanisms,
} from "../../src/policy";
import { memoryContext } from "./memory-host";

const contexts: ServerContext[] = [];
afterEach(async () => {
  for (const context of contexts.splice(0)) await context.hashPool.close();
});

function options(...args: Parameters<typeof memoryContext>) {
  const { context } = memoryContext(...args);
  contexts.push(context);
  return context.options;
}

describe("policy", () => {
  it("lets cleartext credentials travel only under TLS unless allowed", () => {
    expect(cleartextAllowed(options(), false)).toBe(false);
    expect(cleartextAllowed(options(), true)).toBe(true);
    expect(cleartextAllowed(options({ allowCleartextAuth: true }), false)).toBe(true);
  });

  it("offers each mechanism only where it can work, in the configured order", () => {
    const tokens: Authenticator = {
      verifyPassword: async () => ({ ok: false }),
      verifyToken: async () => ({ ok: false }),
    };
    expect(usableMechanisms(options(), false)).toEqual(["CRAM-MD5"]);
    expect(usableMechanisms(options(), true)).toEqual(["PLAIN", "LOGIN", "CRAM-MD5"]);
    expect(usableMechanisms(options({ auth: tokens }), true)).toEqual([
      "PLAIN",
      "LOGIN",
      "XOAUTH2",
      "OAUTHBEARER",
    ]);
    expect(usableMechanisms(options({ saslMechanisms: ["LOGIN", "PLAIN"] }), true)).toEqual([
      "LOGIN",
      "PLAIN",
    ]);
  });

  it("says why a mechanism is refused", () => {
    expect(mechanismRefusal(options(), false, "PLAIN")).toEqual(CLEARTEXT_REFUSED);
    expect(mechanismRefusal(options(), false, "XOAUTH2")).toEqual({
      ok: false,
      text: "unsupported mechanism",
    });
    expect(mechanismRefusal(options(), true, "PLAIN")).toBeUndefined();
  });

  it("lists USER and STLS by the connection's TLS, the rest by the options", () => {
    const plain = serializeCapabilities(
      capabilities(options({ loginDelaySeconds: 60, expire: "NEVER" }), {
        tls: false,
        stlsConfigured: true,
      }),
    );
    expect(plain).toEqual([
      "TOP",
      "UIDL",
      "SASL CRAM-MD5",
      "RESP-CODES",
      "AUTH-RESP-CODE",
      "PIPELINING",
      "LOGIN-DELAY 60",
      "EXPIRE NEVER",
      "IMPLEMENTATION pop3-server",
      "STLS",
      "UTF8 USER",
      "LANG",
    ]);
    const secure = serializeCapabilities(
      capabilities(options({ implementation: false }), { tls: true, stlsConfigured: true }),
    );
    expect(secure).toContain("USER");
    expect(secure).not.toContain("STLS");
    expect(secure.some((line) => line.startsWith("IMPLEMENTATION"))).toBe(false);
  });
});
