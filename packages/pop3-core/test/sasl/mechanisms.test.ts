import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { LocalProtocolError } from "../../src/errors";
import {
  cramMd5Client,
  createSaslServerExchange,
  isSaslMechanism,
  loginClient,
  oauthbearerClient,
  plainClient,
  SASL_MECHANISMS,
  type SaslClientMechanism,
  type SaslServerExchange,
  type SaslServerStep,
  xoauth2Client,
} from "../../src/sasl";
import { Secret } from "../../src/secret";
import { numRuns } from "../property-runs";
import { expectChallenge, expectPop3Error, utf8 } from "./support";

const OPTIONS = { cramMd5Challenge: "<12345.1700000000@pop.example.com>" };
const SECRET = "Zq9-S3CRET-marker";

/** A client of each mechanism whose password or token contains SECRET. */
const CLIENTS: Record<(typeof SASL_MECHANISMS)[number], () => SaslClientMechanism> = {
  PLAIN: () => plainClient({ username: "user", password: new Secret(SECRET) }),
  LOGIN: () => loginClient({ username: "user", password: new Secret(SECRET) }),
  "CRAM-MD5": () => cramMd5Client({ username: "user", password: new Secret(SECRET) }),
  XOAUTH2: () => xoauth2Client({ username: "user", token: new Secret(SECRET) }),
  OAUTHBEARER: () => oauthbearerClient({ username: "user", token: new Secret(SECRET), port: 995 }),
};

describe("SASL_MECHANISMS and createSaslServerExchange", () => {
  it("lists the five mechanisms", () => {
    expect(SASL_MECHANISMS).toEqual(["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "OAUTHBEARER"]);
  });

  it.each(SASL_MECHANISMS)("creates a %s exchange, by any ASCII case", (name) => {
    expect(createSaslServerExchange(name, OPTIONS)?.mechanism).toBe(name);
    expect(createSaslServerExchange(name.toLowerCase(), OPTIONS)?.mechanism).toBe(name);
    expect(isSaslMechanism(name.toLowerCase())).toBe(true);
  });

  it.each(SASL_MECHANISMS)("names the %s client after its mechanism", (name) => {
    expect(CLIENTS[name]().name).toBe(name);
  });

  it("returns undefined for unknown mechanisms", () => {
    for (const name of ["", "DIGEST-MD5", "SCRAM-SHA-256", "PLAIN ", "EXTERNAL", "PLA\u0131N"]) {
      expect(createSaslServerExchange(name, OPTIONS)).toBeUndefined();
      expect(isSaslMechanism(name)).toBe(false);
    }
  });

  it("makes a fresh exchange every time", () => {
    expect(createSaslServerExchange("PLAIN", {})).not.toBe(createSaslServerExchange("PLAIN", {}));
  });
});

describe("server exchange call order", () => {
  const make = (name: string): SaslServerExchange => createSaslServerExchange(name, OPTIONS)!;

  it.each(SASL_MECHANISMS)("%s: step() before start() is POP3_BAD_STATE", (name) => {
    expectPop3Error(() => make(name).step(utf8("x")), LocalProtocolError, "POP3_BAD_STATE");
  });

  it.each(SASL_MECHANISMS)("%s: start() twice is POP3_BAD_STATE", (name) => {
    const exchange = make(name);
    exchange.start(undefined);
    expectPop3Error(() => exchange.start(undefined), LocalProtocolError, "POP3_BAD_STATE");
  });

  it.each(SASL_MECHANISMS)("%s: step() after success is POP3_BAD_STATE", (name) => {
    const exchange = make(name);
    const client = CLIENTS[name]();
    let step = exchange.start(undefined);
    while (step.type === "challenge") step = exchange.step(client.respond(step.challenge));
    expect(step.type).toBe("done");
    expectPop3Error(() => exchange.step(utf8("x")), LocalProtocolError, "POP3_BAD_STATE", [SECRET]);
  });

  it.each(SASL_MECHANISMS)("%s: step() after failure is POP3_BAD_STATE", (name) => {
    const exchange = make(name);
    expectChallenge(exchange.start(undefined));
    expect(exchange.step(Uint8Array.of(0xff)).type).toBe("failed");
    expectPop3Error(() => exchange.step(utf8("x")), LocalProtocolError, "POP3_BAD_STATE");
  });
});

/** Feeds responses to a fresh exchange until it stops asking; returns every step. */
function feed(name: string, first: Uint8Array | undefined, rest: Uint8Array[]): SaslServerStep[] {
  const exchange = createSaslServerExchange(name, OPTIONS)!;
  const steps = [exchange.start(first)];
  for (const response of rest) {
    if (steps.at(-1)!.type !== "challenge") break;
    steps.push(exchange.step(response));
  }
  return steps;
}

function expectNoLeak(steps: readonly SaslServerStep[]): void {
  for (const step of steps) {
    if (step.type === "failed") expect(step.reason).not.toContain(SECRET);
    if (step.type === "done") expect(JSON.stringify(step.credentials)).not.toContain(SECRET);
  }
}

describe("server exchanges on hostile input", () => {
  test.prop(
    [
      fc.constantFrom(...SASL_MECHANISMS),
      fc.option(fc.uint8Array({ maxLength: 80 }), { nil: undefined }),
      fc.array(fc.uint8Array({ maxLength: 80 }), { maxLength: 3 }),
    ],
    { numRuns: numRuns(1000) },
  )("never throw on arbitrary bytes", (name, first, rest) => {
    for (const step of feed(name, first, rest)) {
      expect(["challenge", "done", "failed"]).toContain(step.type);
    }
  });

  // Take a real client's messages and damage them: the server must fail (or, if the damage
  // happens to leave a valid message, succeed) and never print the secret either way.
  const damage = fc.oneof(
    fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
    fc.record({
      kind: fc.constant("flip" as const),
      at: fc.nat(),
      byte: fc.integer({ min: 0, max: 255 }),
    }),
    fc.record({
      kind: fc.constant("insert" as const),
      at: fc.nat(),
      byte: fc.integer({ min: 0, max: 255 }),
    }),
    fc.record({ kind: fc.constant("delete" as const), at: fc.nat() }),
  );
  type Damage = typeof damage extends fc.Arbitrary<infer T> ? T : never;

  function apply(bytes: Uint8Array, change: Damage): Uint8Array {
    const at = bytes.length === 0 ? 0 : change.at % bytes.length;
    const list = [...bytes];
    if (change.kind === "truncate") list.length = at;
    if (change.kind === "flip") list[at] = change.byte;
    if (change.kind === "insert") list.splice(at, 0, change.byte);
    if (change.kind === "delete") list.splice(at, 1);
    return Uint8Array.from(list);
  }

  test.prop([fc.constantFrom(...SASL_MECHANISMS), damage, fc.nat({ max: 2 })], {
    numRuns: numRuns(1000),
  })(
    "fail cleanly on damaged client messages, without echoing the secret",
    (name, change, victim) => {
      const client = CLIENTS[name]();
      const exchange = createSaslServerExchange(name, OPTIONS)!;
      const steps = [exchange.start(undefined)];
      for (let round = 0; steps.at(-1)!.type === "challenge" && round < 3; round++) {
        const previous = steps.at(-1) as Extract<SaslServerStep, { type: "challenge" }>;
        const response = client.respond(previous.challenge);
        steps.push(exchange.step(round === victim ? apply(response, change) : response));
      }
      expect(steps.at(-1)!.type).not.toBe("challenge");
      expectNoLeak(steps);
    },
  );
});
