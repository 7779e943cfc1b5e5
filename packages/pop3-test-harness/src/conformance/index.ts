export { KNOWN_DEVIATIONS } from "./deviations";
export { formatTable } from "./report";
export { CONFORMANCE_CHECKS, runConformance } from "./runner";
export type {
  CheckInfo,
  CheckResult,
  ConformanceLevel,
  ConformanceOptions,
  ConformanceReport,
  ConformanceResult,
  ConformanceSummary,
  ConformanceTls,
  ConformanceTlsOptions,
  ResultCounts,
} from "./types";
