import type { CheckResult, ConformanceReport, ConformanceSummary, ResultCounts } from "./types";

const counts = (): ResultCounts => ({ pass: 0, fail: 0, skip: 0 });

/** Pass, fail and skip counts, in total and per level. */
export function summarize(checks: readonly CheckResult[]): ConformanceSummary {
  const summary = { total: counts(), MUST: counts(), SHOULD: counts(), MAY: counts() };
  for (const check of checks) {
    summary.total[check.result] += 1;
    summary[check.level][check.result] += 1;
  }
  return summary;
}

/**
 * The report as a plain-text table (check, level, result, reason), columns aligned with spaces,
 * no colours, then one summary line per level.
 */
export function formatTable(report: ConformanceReport): string {
  const header = ["check", "level", "result", "reason"] as const;
  const rows = report.checks.map((c) => [c.id, c.level, c.result, c.reason ?? ""] as const);
  const width = (i: 0 | 1 | 2): number =>
    Math.max(header[i].length, ...rows.map((r) => r[i].length));
  const widths = [width(0), width(1), width(2)] as const;
  const line = (cells: readonly [string, string, string, string]): string =>
    [cells[0].padEnd(widths[0]), cells[1].padEnd(widths[1]), cells[2].padEnd(widths[2]), cells[3]]
      .join("  ")
      .trimEnd();
  const rule = line([
    "-".repeat(widths[0]),
    "-".repeat(widths[1]),
    "-".repeat(widths[2]),
    "-".repeat(6),
  ]);
  const { summary } = report;
  const tally = (label: string, c: ResultCounts): string =>
    `${label.padEnd(7)}${c.pass} pass, ${c.fail} fail, ${c.skip} skip`;
  return [
    line(header),
    rule,
    ...rows.map(line),
    "",
    tally("MUST", summary.MUST),
    tally("SHOULD", summary.SHOULD),
    tally("MAY", summary.MAY),
    tally("total", summary.total),
    "",
  ].join("\n");
}
