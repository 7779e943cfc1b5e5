import { defineConfig } from "tsup";

// A bin-only package: one ESM file with its `#!/usr/bin/env node` line (tsup keeps it and marks
// the file executable). Dependencies stay external; no types are published.
export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm"],
  target: "node20",
  platform: "node",
  dts: false,
  sourcemap: true,
  clean: true,
  // Crash-test failpoints (src/fetch/failpoint.ts) exist only in the build the tests make
  // (test/global-setup.ts sets POP3_CLI_BUILD_FAILPOINTS=1); `pnpm build` leaves them out.
  define: {
    __POP3_CLI_FAILPOINTS__: process.env["POP3_CLI_BUILD_FAILPOINTS"] === "1" ? "true" : "false",
  },
});
