import type { ConformanceReport } from "pop3-test-harness";
import { credentials } from "../config";
import { CliError, EXIT, type ExitCode } from "../errors";
import type { Context } from "../session";

export async function conformanceCommand(
  context: Context,
  options: { only?: string },
): Promise<ExitCode> {
  const { config, output } = context;
  // Loaded here, not at the top: the harness pulls in pop3-server, which no other command needs.
  const { formatTable, runConformance } = await import("pop3-test-harness");
  const login = await credentials(config, output);
  const only = options.only
    ?.split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  let report: ConformanceReport;
  try {
    report = await runConformance({
      host: config.host,
      port: config.port,
      tls: config.tls,
      tlsOptions: {
        rejectUnauthorized: !config.insecure,
        ...(config.ca === undefined ? {} : { ca: config.ca.pem }),
        ...(config.servername === undefined ? {} : { servername: config.servername }),
      },
      user: login.user,
      password: login.password,
      ...(only === undefined || only.length === 0 ? {} : { only }),
      timeoutMs: config.timeoutMs,
    });
  } catch (error) {
    if (error instanceof TypeError && /unknown conformance check/.test(error.message)) {
      throw new CliError(EXIT.USAGE, error.message);
    }
    throw new CliError(
      EXIT.CONNECTION,
      `the conformance suite could not run: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  if (output.json) output.jsonDocument(report);
  else output.line(formatTable(report));
  const mustFailures = report.summary.MUST.fail;
  if (mustFailures > 0 && !output.json) {
    output.error(`${mustFailures} MUST check${mustFailures === 1 ? "" : "s"} failed`);
  }
  return mustFailures > 0 ? EXIT.CONFORMANCE : EXIT.OK;
}
