import { credentials } from "../config";
import { CliError, EXIT, type ExitCode } from "../errors";
import type { Context } from "../session";

/**
 * The shape of pop3-test-harness's conformance API (`runConformance`, `formatTable`). It is loaded
 * lazily: the harness pulls in pop3-server, which no other command needs.
 */
interface ConformanceCheck {
  readonly id: string;
  readonly title: string;
  readonly rfc: string;
  readonly section?: string;
  readonly level: "MUST" | "SHOULD" | "MAY";
  readonly result: "pass" | "fail" | "skip";
  readonly reason?: string;
}

interface Counts {
  readonly pass: number;
  readonly fail: number;
  readonly skip: number;
}

interface ConformanceReport {
  readonly checks: readonly ConformanceCheck[];
  readonly summary: {
    readonly total: Counts;
    readonly MUST: Counts;
    readonly SHOULD: Counts;
    readonly MAY: Counts;
  };
}

interface ConformanceApi {
  runConformance(options: {
    host: string;
    port: number;
    tls?: "none" | "starttls" | "implicit";
    tlsOptions?: { ca?: string; servername?: string; rejectUnauthorized?: boolean };
    user: string;
    password: string;
    only?: readonly string[];
    timeoutMs?: number;
  }): Promise<ConformanceReport>;
  formatTable(report: ConformanceReport): string;
}

async function loadHarness(): Promise<ConformanceApi> {
  const harness = (await import("pop3-test-harness")) as Partial<ConformanceApi>;
  if (typeof harness.runConformance !== "function" || typeof harness.formatTable !== "function") {
    throw new CliError(
      EXIT.USAGE,
      "this build of pop3-test-harness has no conformance suite (runConformance, formatTable)",
    );
  }
  return harness as ConformanceApi;
}

export async function conformanceCommand(
  context: Context,
  options: { only?: string },
): Promise<ExitCode> {
  const { config, output } = context;
  const api = await loadHarness();
  const login = await credentials(config, output);
  const only = options.only
    ?.split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  let report: ConformanceReport;
  try {
    report = await api.runConformance({
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
  else output.line(api.formatTable(report));
  const mustFailures = report.summary.MUST.fail;
  if (mustFailures > 0 && !output.json) {
    output.error(`${mustFailures} MUST check${mustFailures === 1 ? "" : "s"} failed`);
  }
  return mustFailures > 0 ? EXIT.CONFORMANCE : EXIT.OK;
}
