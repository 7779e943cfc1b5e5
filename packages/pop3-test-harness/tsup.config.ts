import { defineConfig } from "tsup";

export default defineConfig({
  // One file per entry point: `.`, `./arbitraries` and `./store-contract` (which loads vitest).
  entry: {
    index: "src/index.ts",
    arbitraries: "src/arbitraries.ts",
    "store-contract": "src/store-contract/index.ts",
  },
  format: ["esm", "cjs"],
  target: "node20",
  platform: "node",
  dts: { compilerOptions: { ignoreDeprecations: "6.0" } },
  sourcemap: true,
  clean: true,
  // The CommonJS build turns `import("selfsigned")` (loaded lazily, only for TLS) into a lazy
  // `require`: a real `import()` in CommonJS fails where ES modules are not enabled in the VM,
  // as in Jest without --experimental-vm-modules.
  esbuildOptions(options, { format }) {
    if (format === "cjs") options.supported = { ...options.supported, "dynamic-import": false };
  },
});
