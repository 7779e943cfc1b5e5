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
});
