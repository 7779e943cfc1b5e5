/**
 * One line of a CAPA answer (RFC 2449 §6, RFC 2595, RFC 3206, RFC 6856). Known capabilities get
 * typed arguments; anything else is kept verbatim as `{ name, args }` so nothing is lost.
 * Capability names are case-insensitive on the wire and upper-cased here.
 */
export type Capability =
  | { readonly name: "TOP" }
  | { readonly name: "UIDL" }
  | { readonly name: "USER" }
  | { readonly name: "SASL"; readonly mechanisms: readonly string[] }
  | { readonly name: "RESP-CODES" }
  | { readonly name: "AUTH-RESP-CODE" }
  | { readonly name: "PIPELINING" }
  | { readonly name: "STLS" }
  | { readonly name: "LANG" }
  /** `LOGIN-DELAY secs [USER]`: `perUser` means the value may differ per user after login. */
  | { readonly name: "LOGIN-DELAY"; readonly seconds: number; readonly perUser: boolean }
  /** `EXPIRE days|NEVER [USER]`: days 0 means mail is deleted right after retrieval. */
  | { readonly name: "EXPIRE"; readonly days: number | "NEVER"; readonly perUser: boolean }
  | { readonly name: "IMPLEMENTATION"; readonly text: string }
  /** `UTF8 [USER]`: `user` means USER/PASS also accept UTF-8 (RFC 6856 §2). */
  | { readonly name: "UTF8"; readonly user: boolean }
  | { readonly name: "OTHER"; readonly keyword: string; readonly args: readonly string[] };

export type CapabilityName = Capability["name"];

type CapabilityOf<N extends CapabilityName> = Extract<Capability, { name: N }>;

/** A parsed CAPA answer: the lines in their order, and typed look-ups. */
export class Capabilities {
  readonly list: readonly Capability[];

  constructor(list: readonly Capability[]) {
    this.list = list;
  }

  has(name: Exclude<CapabilityName, "OTHER">): boolean {
    return this.list.some((c) => c.name === name);
  }

  get<N extends Exclude<CapabilityName, "OTHER">>(name: N): CapabilityOf<N> | undefined {
    return this.list.find((c): c is CapabilityOf<N> => c.name === name);
  }

  /** An unknown capability by its keyword (case-insensitive). */
  other(keyword: string): CapabilityOf<"OTHER"> | undefined {
    const upper = keyword.toUpperCase();
    return this.list.find(
      (c): c is CapabilityOf<"OTHER"> => c.name === "OTHER" && c.keyword.toUpperCase() === upper,
    );
  }

  /** SASL mechanisms, upper-cased; empty when SASL is not advertised. */
  get saslMechanisms(): readonly string[] {
    return this.get("SASL")?.mechanisms ?? [];
  }
}
