import { judge } from "../doctor/judge";
import { printReport } from "../doctor/print";
import type { DoctorObservations, DoctorReport } from "../doctor/report";
import { loginStep, probeSession, probeTarget } from "../doctor/steps";
import { probeLegacyTls } from "../doctor/tls";
import { EXIT, type ExitCode } from "../errors";
import { pinMatches } from "../pin";
import type { Context } from "../session";

export type { DoctorReport, Finding, FindingLevel, TlsReport } from "../doctor/report";

/**
 * `pop3 doctor`: probe steps (one diagnostic connection, a legacy-TLS handshake, a login), then
 * a pure `judge` of what they saw, then the report in JSON or plain words. Exit 0 unless the
 * server cannot be reached (2) or the login fails (its exit code).
 */
export async function doctorCommand(
  context: Context,
  options: { login?: boolean },
): Promise<ExitCode> {
  const { config, output } = context;
  const { target, name } = probeTarget(context);
  const session = await probeSession(context, target, name);
  const legacyTls = session.tls === null ? null : await probeLegacyTls(target);
  const fingerprint = session.tls?.certificate?.fingerprint256;
  const pin =
    config.pins.length === 0
      ? null
      : { matches: fingerprint !== undefined && pinMatches(config.pins, fingerprint) };
  const login = await loginStep(context, options.login !== false, session.tls, pin?.matches);

  const current = (session.afterTls ?? session.beforeTls)?.capabilities;
  const latest = login.afterLogin ?? current;
  const loginDelay = latest?.get("LOGIN-DELAY");
  const expire = latest?.get("EXPIRE");
  const observations: DoctorObservations = {
    target: { host: config.host, port: config.port, tls: config.tls },
    greeting: session.greeting.text,
    apop: session.greeting.apopTimestamp !== undefined,
    capabilities: {
      beforeTls: session.beforeTls?.lines ?? null,
      afterTls: session.afterTls?.lines ?? null,
      afterLogin: login.afterLoginLines,
    },
    stls: session.stls,
    tls: session.tls,
    legacyTls,
    pin,
    loginMechanisms: [
      ...(current === undefined || current.has("USER") ? ["USER"] : []),
      ...(session.greeting.apopTimestamp !== undefined ? ["APOP"] : []),
      ...(current?.saslMechanisms ?? []).map((m) => `SASL ${m}`),
    ],
    loginDelay:
      loginDelay === undefined
        ? null
        : { seconds: loginDelay.seconds, perUser: loginDelay.perUser },
    expire: expire === undefined ? null : { days: expire.days, perUser: expire.perUser },
    login: login.login,
  };
  const report: DoctorReport = { ...observations, findings: judge(observations) };
  if (output.json) output.jsonDocument(report);
  else printReport(output, report);
  return login.exit ?? EXIT.OK;
}
