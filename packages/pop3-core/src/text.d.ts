// pop3-core targets every JavaScript runtime (Node, Deno, Bun, browsers); its tsconfig has no DOM
// or Node types on purpose. These two WHATWG globals exist in all of them, so we declare just the
// parts we use instead of pulling in a whole environment's types.
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean });
  decode(input?: Uint8Array): string;
}
