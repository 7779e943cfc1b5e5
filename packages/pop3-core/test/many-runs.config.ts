/**
 * pop3-core's tests with FC_NUM_RUNS_FACTOR times the fast-check runs (`pnpm test:many-runs`;
 * .ci/run uses it once per CI run). The ordinary config plus a setup file; no coverage, which
 * would only slow the long run down.
 */
import { defineConfig, mergeConfig } from "vitest/config";
import base from "../vitest.config";

export default mergeConfig(
  base,
  defineConfig({
    test: {
      setupFiles: ["./test/many-runs.setup.ts"],
      coverage: { enabled: false },
      // More runs take longer; the tests still assert nothing about time.
      testTimeout: 600_000,
      // pop3-core is pure (no I/O, no globals), so the files can share their workers' modules:
      // loading fast-check and vitest afresh for each of 21 files would cost more than the runs.
      isolate: false,
    },
  }),
);
