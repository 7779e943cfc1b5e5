// pop3-core must run in every JavaScript runtime: no runtime dependencies and no imports other
// than its own relative modules. Biome checks `node:*` and globals; this checks the rest.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

const root = new URL("../packages/pop3-core/", import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const problems = [];

for (const field of ["dependencies", "peerDependencies", "optionalDependencies"]) {
  const names = Object.keys(pkg[field] ?? {});
  if (names.length > 0)
    problems.push(`package.json ${field} must be empty, has: ${names.join(", ")}`);
}

function* sourceFiles(dir) {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) yield* sourceFiles(path);
    else if (path.endsWith(".ts")) yield path;
  }
}

const importPattern =
  /(?:^|\s)(?:import|export)\s[^;]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;
for (const file of sourceFiles(join(root, "src"))) {
  const text = readFileSync(file, "utf8");
  for (const match of text.matchAll(importPattern)) {
    const specifier = match[1] ?? match[2];
    if (!specifier.startsWith("./") && !specifier.startsWith("../")) {
      problems.push(
        `${file.slice(root.length)} imports "${specifier}"; pop3-core may import only its own files`,
      );
    }
  }
}

if (problems.length > 0) {
  console.error(`pop3-core purity check failed:\n- ${problems.join("\n- ")}`);
  process.exit(1);
}
console.log("pop3-core purity check: no dependencies, only relative imports");
