/**
 * Where Dovecot 2.3 (2.3.19 from Debian 12, configured by `scripts/dovecot/dovecot.sh`) departs
 * from the RFCs, by conformance check id, with the RFC text it departs from. The conformance test
 * against Dovecot asserts that exactly these checks fail, so a new failure there is either a new
 * Dovecot behaviour or a bug in the suite, never silently accepted.
 */
export const KNOWN_DEVIATIONS: Readonly<Record<string, string>> = {
  "rfc1939-maildrop-lock":
    'RFC 1939 §4: "the POP3 server then acquires an exclusive-access lock on the maildrop, as ' +
    "necessary to prevent messages from being modified or removed before the session enters the " +
    'UPDATE state." Dovecot (pop3_lock_session = no, its default) logs a second session for the ' +
    "same user in; a message that session deletes disappears from the first session's view " +
    '(RETR then answers "-ERR Message 1 expunged.").',
  "rfc2449-capa-authorization-caps-after-login":
    'RFC 2449 §5: "Capabilities available in the AUTHORIZATION state MUST be announced in both ' +
    'states." Dovecot lists USER and SASL before login only; after login its CAPA answer is ' +
    '"CAPA TOP UIDL RESP-CODES PIPELINING AUTH-RESP-CODE".',
  "rfc5034-sasl-listed-after-login":
    "RFC 5034 §3 keeps the SASL capability announced in both states (as RFC 2449 §6.3 defined " +
    'it), and RFC 2449 §5 says "Capabilities available in the AUTHORIZATION state MUST be ' +
    'announced in both states." Dovecot drops SASL from CAPA after login.',
};
