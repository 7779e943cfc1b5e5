/**
 * The session states of RFC 1939 §3, plus the short-lived states that the extensions add.
 * `SASL` is an AUTH exchange in progress (RFC 5034); `TLS_HANDSHAKE` is the gap between the `+OK`
 * to STLS and the end of the TLS handshake (RFC 2595) in which no POP3 bytes may be read.
 */
export type SessionState =
  | "GREETING"
  | "AUTHORIZATION"
  | "SASL"
  | "TLS_HANDSHAKE"
  | "TRANSACTION"
  | "UPDATE"
  | "CLOSED";
