import { defineConfig } from "tsup";

export default defineConfig({
  // The metrics entry is separate so that the main one never loads prom-client.
  entry: ["src/index.ts", "src/metrics.ts"],
  format: ["esm", "cjs"],
  target: "node20",
  platform: "node",
  dts: { compilerOptions: { ignoreDeprecations: "6.0" } },
  sourcemap: true,
  clean: true,
  // src/options.ts loads zod lazily with createRequire(import.meta.url): the CommonJS build needs
  // import.meta.url shimmed (from __filename).
  shims: true,
});
