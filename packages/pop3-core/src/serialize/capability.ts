import { Capabilities, type Capability } from "../types/capability";
import { badArgument, checkInteger, checkLineLength, checkLineText } from "./reply-common";

/** RFC 4422 §3.1: a SASL mechanism name is 1 to 20 of A-Z, 0-9, `-`, `_` (any case accepted here). */
const MECHANISM = /^[A-Za-z0-9_-]{1,20}$/;
/** RFC 2449 §3 `capa-tag`: printable ASCII except `.`. */
const CAPA_TAG = /^[\x21-\x2d\x2f-\x7e]+$/;
/** RFC 2449 §3 `param`: printable ASCII. */
const PARAM = /^[\x21-\x7e]+$/;

/**
 * Serializes a CAPA body: one line per capability, in order, without CRLF and without the `.`
 * terminator. `parseCapabilities` reads the result back to an equal list.
 *
 * @throws LocalProtocolError `POP3_BAD_ARGUMENT`, see `serializeCapability`.
 */
export function serializeCapabilities(caps: Capabilities | readonly Capability[]): string[] {
  const list = caps instanceof Capabilities ? caps.list : caps;
  return list.map(serializeCapability);
}

/**
 * Serializes one CAPA line, without CRLF.
 *
 * @throws LocalProtocolError `POP3_BAD_ARGUMENT` for a SASL mechanism that is not an RFC 4422 name
 *   (it is sent upper-cased); a negative or unsafe LOGIN-DELAY or EXPIRE number; IMPLEMENTATION
 *   text with CR, LF, NUL or a lone surrogate; an OTHER keyword that is not printable ASCII
 *   without `.`, or an argument that is not printable ASCII; a line over 512 octets with CRLF.
 */
export function serializeCapability(capability: Capability): string {
  const line = capabilityLine(capability);
  checkLineLength(line, `${capability.name} capability line`);
  return line;
}

function capabilityLine(capability: Capability): string {
  switch (capability.name) {
    case "SASL":
      return ["SASL", ...capability.mechanisms.map(mechanismName)].join(" ");
    case "LOGIN-DELAY":
      checkInteger(capability.seconds, 0, "LOGIN-DELAY seconds");
      return `LOGIN-DELAY ${capability.seconds}${capability.perUser ? " USER" : ""}`;
    case "EXPIRE":
      if (capability.days !== "NEVER") checkInteger(capability.days, 0, "EXPIRE days");
      return `EXPIRE ${capability.days}${capability.perUser ? " USER" : ""}`;
    case "IMPLEMENTATION":
      checkLineText(capability.text, "IMPLEMENTATION text");
      return capability.text === "" ? "IMPLEMENTATION" : `IMPLEMENTATION ${capability.text}`;
    case "UTF8":
      return capability.user ? "UTF8 USER" : "UTF8";
    case "OTHER":
      if (!CAPA_TAG.test(capability.keyword)) {
        throw badArgument(
          "capability keyword must be printable ASCII without '.'",
          capability.keyword,
        );
      }
      for (const arg of capability.args) {
        if (!PARAM.test(arg)) throw badArgument("capability argument must be printable ASCII", arg);
      }
      return [capability.keyword, ...capability.args].join(" ");
    default:
      return capability.name;
  }
}

function mechanismName(mechanism: string): string {
  if (!MECHANISM.test(mechanism)) throw badArgument("invalid SASL mechanism name", mechanism);
  return mechanism.toUpperCase();
}

/**
 * Serializes the answer to a bare `AUTH`: one upper-cased mechanism per line, without CRLF and
 * without the `.` terminator. `parseMechanismList` reads it back.
 *
 * @throws LocalProtocolError `POP3_BAD_ARGUMENT` for a name that is not an RFC 4422 mechanism name.
 */
export function serializeMechanismList(mechanisms: readonly string[]): string[] {
  return mechanisms.map(mechanismName);
}
