import { Secret } from "../secret";
import { utf8Length } from "../serialize/reply-common";
import type { Pop3Command } from "../types/command";
import { encodeBase64 } from "./base64";

/**
 * The longest AUTH line, CRLF included, that may carry an initial response: RFC 5034 §4 keeps
 * AUTH under the command line limit of RFC 2449 §4, 255 octets.
 */
export const MAX_INITIAL_RESPONSE_LINE = 255;

type AuthCommand = Extract<Pop3Command, { readonly name: "AUTH" }>;

/**
 * Octets of `AUTH mechanism response CRLF`, the response in base64 (`=` when empty). Counted from
 * the response's octets, not from any text it was made of: a user name of 10 characters may be 40.
 */
function authLineOctets(mechanism: string, initialResponse: Uint8Array): number {
  const base64 = initialResponse.length === 0 ? 1 : 4 * Math.ceil(initialResponse.length / 3);
  return "AUTH ".length + utf8Length(mechanism) + " ".length + base64 + "\r\n".length;
}

/**
 * Whether `AUTH mechanism initial-response` fits in 255 octets with its CRLF, so that the initial
 * response may go on the command line (RFC 5034 §4). `initialResponse` is the decoded response,
 * e.g. what `SaslClientMechanism.initialResponse()` gives.
 */
export function initialResponseFits(mechanism: string, initialResponse: Uint8Array): boolean {
  return authLineOctets(mechanism, initialResponse) <= MAX_INITIAL_RESPONSE_LINE;
}

/**
 * The AUTH command that starts `mechanism`: with the initial response on the line when it fits
 * (`initialResponseFits`), else `AUTH mechanism` alone. The server then sends an empty challenge,
 * and client-first mechanisms answer it with their initial response.
 */
export function authCommand(mechanism: string, initialResponse?: Uint8Array): AuthCommand {
  if (initialResponse === undefined || !initialResponseFits(mechanism, initialResponse)) {
    return { name: "AUTH", mechanism };
  }
  return { name: "AUTH", mechanism, initialResponse: new Secret(encodeBase64(initialResponse)) };
}
