import { encodeBase64, parseCapabilities, parseDropListing, plainClient, Secret } from "pop3-core";
import { type CheckDefinition, defineCheck } from "../check";
import {
  capabilityNames,
  expectErr,
  expectOk,
  fail,
  type RunContext,
  said,
  skip,
} from "../context";
import {
  ConnectionClosedError,
  PlaintextAfterStlsError,
  Probe,
  type StatusLine,
  TlsHandshakeError,
} from "../probe";
import { quote, redactLine } from "../text";

/** The mechanisms the SASL checks can drive, in order of preference. */
const DRIVABLE = ["PLAIN", "LOGIN", "CRAM-MD5"] as const;

/** A SASL mechanism the server offers that answers `AUTH mech` without a response with a challenge. */
function challengeMechanism(ctx: RunContext): string {
  ctx.requireCapability("SASL");
  const offered = ctx.discovery.caps.saslMechanisms;
  const mechanism = DRIVABLE.find((m) => offered.includes(m));
  if (mechanism === undefined) {
    skip(`no SASL mechanism the suite can drive (offered: ${offered.join(" ") || "none"})`);
  }
  return mechanism;
}

/** Sends `AUTH mech` and expects a continuation; skips when the server refuses the mechanism. */
async function startExchange(probe: Probe, mechanism: string): Promise<void> {
  probe.write(`AUTH ${mechanism}\r\n`, "AUTH");
  const first = await probe.authLine(`the answer to AUTH ${mechanism}`);
  if ("status" in first) {
    if (first.status.reply.ok)
      fail(`AUTH ${mechanism} without credentials got ${said(first.status)}`);
    skip(`the server refused AUTH ${mechanism} here: ${said(first.status)}`);
  }
}

/** A STLS-capable cleartext connection, or a skip. */
function requireStls(ctx: RunContext): void {
  if (ctx.tls === "implicit") skip("the run uses implicit TLS (STLS is for cleartext connections)");
  const caps = ctx.discovery.capsCleartext;
  if (caps === undefined) skip("server does not support CAPA (RFC 2449)");
  if (!caps.has("STLS")) skip("server does not advertise STLS");
}

/** Capability tags whose arguments pop3-core's `parseCapabilities` checks. */
const KNOWN_TAGS = [
  "TOP",
  "UIDL",
  "USER",
  "SASL",
  "RESP-CODES",
  "AUTH-RESP-CODE",
  "PIPELINING",
  "STLS",
  "LANG",
  "LOGIN-DELAY",
  "EXPIRE",
  "UTF8",
];

/** Handshake errors that mean the server hung up (rather than sent something that is not TLS). */
const DROPPED = ["CLOSED", "ECONNRESET", "EPIPE"];

const LANGUAGE_TAG = /^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*(?:[ \t]|$)/;

export const EXTENSION_CHECKS: readonly CheckDefinition[] = [
  defineCheck(
    {
      id: "rfc2449-capa",
      title: "CAPA answers a capability list in AUTHORIZATION and in TRANSACTION",
      reference: "RFC 2449 §5",
      level: "MUST",
    },
    async (ctx) => {
      if (!ctx.discovery.capa) skip("server does not support CAPA (RFC 2449 is optional)");
      if (ctx.discovery.capsAfterLogin === undefined) fail("CAPA after login got -ERR");
      if (ctx.discovery.caps.list.length === 0) fail("CAPA before login listed nothing");
    },
  ),

  defineCheck(
    {
      id: "rfc2449-capa-arguments",
      title: "Capabilities of RFC 2449, 2595, 3206 and 6856 have well-formed arguments",
      reference: "RFC 2449 §6",
      level: "MUST",
    },
    async (ctx) => {
      const { caps, capsAfterLogin } = ctx.discovery;
      if (!ctx.discovery.capa) skip("server does not support CAPA");
      // parseCapabilities types every known capability whose arguments fit its grammar; a known
      // keyword that comes back as OTHER had arguments that do not.
      for (const [list, when] of [
        [caps, "before login"],
        [capsAfterLogin, "after login"],
      ] as const) {
        for (const cap of list?.list ?? []) {
          if (cap.name === "OTHER" && KNOWN_TAGS.includes(cap.keyword.toUpperCase())) {
            fail(`malformed capability ${when}: ${quote([cap.keyword, ...cap.args].join(" "))}`);
          }
        }
      }
    },
  ),

  defineCheck(
    {
      id: "rfc2449-capa-authorization-caps-after-login",
      title: "Capabilities of the AUTHORIZATION state are still listed after login",
      reference: "RFC 2449 §5",
      level: "MUST",
    },
    async (ctx) => {
      const { caps, capsAfterLogin } = ctx.discovery;
      if (!ctx.discovery.capa || capsAfterLogin === undefined) skip("server does not support CAPA");
      const after = capabilityNames(capsAfterLogin);
      // STLS is only permitted in AUTHORIZATION (RFC 2595 §4), so it may disappear.
      const missing = [...capabilityNames(caps)].filter((n) => n !== "STLS" && !after.has(n));
      if (missing.length > 0) fail(`listed before login but not after: ${missing.join(" ")}`);
    },
  ),

  defineCheck(
    {
      id: "rfc2449-capa-transaction-caps-before-login",
      title: "Capabilities listed after login (TOP, UIDL...) are listed before login too",
      reference: "RFC 2449 §6",
      level: "MUST",
    },
    async (ctx) => {
      const { caps, capsAfterLogin } = ctx.discovery;
      if (!ctx.discovery.capa || capsAfterLogin === undefined) skip("server does not support CAPA");
      const before = capabilityNames(caps);
      // IMPLEMENTATION may be announced in TRANSACTION only (RFC 2449 §6.9).
      const missing = [...capabilityNames(capsAfterLogin)].filter(
        (n) => n !== "IMPLEMENTATION" && !before.has(n),
      );
      if (missing.length > 0) fail(`listed after login but not before: ${missing.join(" ")}`);
    },
  ),

  defineCheck(
    {
      id: "rfc2449-pipelining",
      title: "With PIPELINING, commands sent in one write are answered in order",
      reference: "RFC 2449 §6.6",
      level: "MUST",
    },
    async (ctx) => {
      ctx.requireCapability("PIPELINING");
      const { user, password } = ctx.credentials;
      await using probe = await ctx.connect();
      const commands: { line: string; ok: boolean; multiline: boolean }[] = [];
      if (ctx.discovery.login === "USER") {
        commands.push(
          { line: `USER ${user}`, ok: true, multiline: false },
          { line: `PASS ${password}`, ok: true, multiline: false },
        );
      } else {
        expectOk(await ctx.login(probe), "login");
      }
      commands.push(
        { line: "STAT", ok: true, multiline: false },
        { line: "LIST 999999", ok: false, multiline: false },
        { line: "NOOP", ok: true, multiline: false },
        { line: "LIST", ok: true, multiline: true },
        { line: "XCNF", ok: false, multiline: false },
        { line: "STAT", ok: true, multiline: false },
        { line: "QUIT", ok: true, multiline: false },
      );
      probe.write(
        commands.map((c) => `${c.line}\r\n`).join(""),
        ...commands.map((c) => c.line.split(" ")[0] as string),
      );
      for (const [i, command] of commands.entries()) {
        const shown = redactLine(command.line);
        const answer = await probe.response(shown, command.multiline);
        if (answer.status.reply.ok !== command.ok) {
          fail(`answer ${i + 1} (to ${shown}) was ${said(answer.status)}`);
        }
        if (command.line === "STAT") {
          try {
            parseDropListing(answer.status.reply.text);
          } catch {
            fail(`answer ${i + 1} (to STAT) was ${said(answer.status)}`);
          }
        }
      }
      return `${commands.length} commands in one write`;
    },
  ),

  defineCheck(
    {
      id: "rfc2595-stls-capa-after-tls",
      title: "After STLS the capability list no longer offers STLS",
      reference: "RFC 2595 §4",
      level: "SHOULD",
    },
    async (ctx) => {
      requireStls(ctx);
      await using probe = await Probe.open(ctx.target(false));
      expectOk((await probe.raw("STLS")).status, "STLS");
      await probe.startTls();
      const answer = await probe.raw("CAPA", true);
      expectOk(answer.status, "CAPA after STLS");
      const caps = parseCapabilities(Probe.lines(answer.body as Uint8Array));
      if (caps.has("STLS")) fail("CAPA after the TLS handshake still lists STLS");
      await probe.quit();
    },
  ),

  defineCheck(
    {
      id: "rfc2595-stls-no-injection",
      title: "Commands pipelined after STLS are not executed (CVE-2011-0411)",
      reference: "RFC 2595 §4",
      level: "MUST",
    },
    async (ctx) => {
      requireStls(ctx);
      await using probe = await Probe.open(ctx.target(false));
      probe.write("STLS\r\nCAPA\r\n", "STLS", "CAPA (pipelined after STLS)");
      const answer = await probe.status("the answer to STLS");
      expectOk(answer, "STLS");
      try {
        await probe.startTls();
      } catch (error) {
        if (error instanceof PlaintextAfterStlsError) fail(error.message);
        // Dropping the connection rather than reading the plaintext as TLS is safe.
        if (error instanceof TlsHandshakeError && DROPPED.includes(error.code ?? "")) {
          return `the server dropped the connection during the handshake (${error.code}): safe`;
        }
        if (error instanceof TlsHandshakeError) {
          fail(
            `the TLS handshake after STLS failed (${error.code ?? "?"}): the server sent something that is not TLS, likely its answer to the pipelined CAPA`,
          );
        }
        throw error;
      }
      // Our own command after TLS: its answer must come first. The injected CAPA would be +OK.
      let next: StatusLine;
      try {
        probe.write("XCNF\r\n", "XCNF");
        next = await probe.status("the first answer after TLS");
      } catch (error) {
        if (error instanceof ConnectionClosedError) {
          return "the server closed the connection after the handshake (acceptable)";
        }
        throw error;
      }
      if (next.reply.ok) {
        fail(`the first answer after TLS was ${said(next)}: the CAPA sent before TLS was executed`);
      }
      expectOk((await probe.raw("CAPA", true)).status, "CAPA after TLS");
      await probe.quit();
    },
  ),

  defineCheck(
    {
      id: "rfc5034-auth-cancel",
      title: "AUTH cancelled with * gets -ERR, and the session can still log in",
      reference: "RFC 5034 §4",
      level: "MUST",
    },
    async (ctx) => {
      const mechanism = challengeMechanism(ctx);
      await using probe = await ctx.connect();
      await startExchange(probe, mechanism);
      probe.write("*\r\n");
      const answer = await probe.authLine("the answer to *");
      if ("continuation" in answer) fail(`after *, the server sent another challenge`);
      expectErr(answer.status, `* (cancel) in AUTH ${mechanism}`);
      const login = await ctx.login(probe);
      if (!login.reply.ok) fail(`after the cancelled AUTH, login got ${said(login)}`);
      await probe.quit();
    },
  ),

  defineCheck(
    {
      id: "rfc5034-auth-invalid-base64",
      title: "AUTH responses that are not base64 get -ERR",
      reference: "RFC 5034 §4",
      level: "MUST",
    },
    async (ctx) => {
      const mechanism = challengeMechanism(ctx);
      await using probe = await ctx.connect();
      await startExchange(probe, mechanism);
      probe.write("%%not*base64%%\r\n");
      const answer = await probe.authLine("the answer to a response that is not base64");
      if ("continuation" in answer) {
        probe.write("*\r\n");
        fail(
          `a response that is not base64 got another challenge ${quote(`+ ${answer.continuation}`)}`,
        );
      }
      expectErr(answer.status, "a SASL response that is not base64");
      if (mechanism === "PLAIN") {
        probe.write("AUTH PLAIN %%not*base64%%\r\n", "AUTH");
        const initial = await probe.authLine("the answer to AUTH PLAIN with bad base64");
        if ("continuation" in initial) {
          probe.write("*\r\n");
          fail("an initial response that is not base64 got a challenge");
        }
        expectErr(initial.status, "an initial response that is not base64");
      }
      await probe.quit();
    },
  ),

  defineCheck(
    {
      id: "rfc5034-auth-empty-initial-response",
      title: "AUTH PLAIN = is an empty initial response (refused, not a request for a challenge)",
      reference: "RFC 5034 §4",
      level: "MUST",
    },
    async (ctx) => {
      ctx.requireCapability("SASL");
      if (!ctx.discovery.caps.saslMechanisms.includes("PLAIN"))
        skip("server does not offer SASL PLAIN");
      await using probe = await ctx.connect();
      probe.write("AUTH PLAIN =\r\n", "AUTH");
      const answer = await probe.authLine("the answer to AUTH PLAIN =");
      if ("continuation" in answer) {
        probe.write("*\r\n");
        fail(
          `AUTH PLAIN = got a challenge ${quote(`+ ${answer.continuation}`)}: "=" was not taken as an empty response`,
        );
      }
      expectErr(answer.status, "AUTH PLAIN = (an empty PLAIN message)");
      const login = await ctx.login(probe);
      if (!login.reply.ok) fail(`after AUTH PLAIN =, login got ${said(login)}`);
      await probe.quit();
    },
  ),

  defineCheck(
    {
      id: "rfc5034-auth-after-login",
      title: "AUTH after a successful AUTH gets -ERR",
      reference: "RFC 5034 §4",
      level: "MUST",
    },
    async (ctx) => {
      ctx.requireCapability("SASL");
      if (!ctx.discovery.caps.saslMechanisms.includes("PLAIN"))
        skip("server does not offer SASL PLAIN");
      const { user, password } = ctx.credentials;
      await using probe = await ctx.connect();
      const login = await ctx.login(probe, ctx.credentials, "PLAIN");
      if (!login.reply.ok) fail(`AUTH PLAIN login got ${said(login)}`);
      const response = plainClient({ username: user, password: new Secret(password) });
      probe.send({
        name: "AUTH",
        mechanism: "PLAIN",
        initialResponse: new Secret(encodeBase64(response.initialResponse() as Uint8Array)),
      });
      const again = await probe.authLine("the answer to a second AUTH");
      if ("continuation" in again) {
        probe.write("*\r\n");
        fail("a second AUTH after login got a challenge");
      }
      expectErr(again.status, "a second AUTH after login");
      expectOk((await probe.raw("NOOP")).status, "NOOP after the refused AUTH");
      await probe.quit();
    },
  ),

  defineCheck(
    {
      id: "rfc5034-sasl-listed-after-login",
      title: "The SASL capability is still listed after login",
      reference: "RFC 5034 §3",
      level: "MUST",
    },
    async (ctx) => {
      ctx.requireCapability("SASL");
      const after = ctx.discovery.capsAfterLogin;
      if (after === undefined) fail("CAPA after login got -ERR");
      if (!after.has("SASL")) {
        fail(
          `CAPA after login has no SASL: ${quote(ctx.discovery.capaLinesAfter.join(" | "), 120)}`,
        );
      }
    },
  ),

  defineCheck(
    {
      id: "rfc3206-auth-response-code",
      title: "Bad credentials get -ERR [AUTH] (with AUTH-RESP-CODE)",
      reference: "RFC 3206 §6",
      level: "MUST",
    },
    async (ctx) => {
      ctx.requireCapability("AUTH-RESP-CODE");
      // The one wrong password of the run (servers slow down failed logins).
      await using probe = await ctx.connect();
      const wrong = { user: ctx.credentials.user, password: `${ctx.credentials.password}-wrong` };
      const answer = await ctx.login(probe, wrong);
      if (answer.reply.ok) fail(`a wrong password got ${said(answer)}`);
      const code = answer.reply.code ?? "";
      if (code !== "AUTH" && !code.startsWith("AUTH/"))
        fail(`a wrong password got ${said(answer)}`);
      await probe.quit();
    },
  ),

  defineCheck(
    {
      id: "rfc6856-utf8-authorization",
      title: "UTF8 is accepted in AUTHORIZATION, and login works afterwards",
      reference: "RFC 6856 §2",
      level: "MUST",
    },
    async (ctx) => {
      ctx.requireCapability("UTF8");
      await using probe = await ctx.connect();
      expectOk((await probe.request({ name: "UTF8" })).status, "UTF8 before login");
      expectOk(await ctx.login(probe), "login after UTF8");
      await probe.quit();
    },
  ),

  defineCheck(
    {
      id: "rfc6856-utf8-wrong-state",
      title: "UTF8 after login gets -ERR (it is an AUTHORIZATION command)",
      reference: "RFC 6856 §2",
      level: "MUST",
    },
    async (ctx) => {
      ctx.requireCapability("UTF8");
      await using probe = await ctx.session();
      expectErr((await probe.request({ name: "UTF8" })).status, "UTF8 after login");
      expectOk((await probe.raw("NOOP")).status, "NOOP afterwards");
      await probe.quit();
    },
  ),

  defineCheck(
    {
      id: "rfc6856-lang-list",
      title: "LANG without an argument lists the languages (multi-line)",
      reference: "RFC 6856 §3",
      level: "MUST",
    },
    async (ctx) => {
      ctx.requireCapability("LANG");
      await using probe = await ctx.connect();
      const answer = await probe.request({ name: "LANG" });
      expectOk(answer.status, "LANG");
      const lines = Probe.lines(answer.body as Uint8Array);
      if (lines.length === 0) fail("LANG listed no language");
      const bad = lines.find((line) => !LANGUAGE_TAG.test(line));
      if (bad !== undefined)
        fail(`LANG listing line does not start with a language tag: ${quote(bad)}`);
      await probe.quit();
      return lines.map((l) => l.split(" ")[0]).join(" ");
    },
  ),
];
