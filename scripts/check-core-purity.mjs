// pop3-core must run in every JavaScript runtime with nothing installed beside it. Its imports
// are checked by dependency-cruiser (.dependency-cruiser.cjs, rule core-imports-only-itself: only
// its own files, no node:*, no packages) and its globals by Biome; this checks what neither
// sees: package.json declares no dependency a user would have to install.
import { readFileSync } from "node:fs";

const pkg = JSON.parse(
  readFileSync(new URL("../packages/pop3-core/package.json", import.meta.url), "utf8"),
);
const problems = [];
for (const field of ["dependencies", "peerDependencies", "optionalDependencies"]) {
  const names = Object.keys(pkg[field] ?? {});
  if (names.length > 0)
    problems.push(`package.json ${field} must be empty, has: ${names.join(", ")}`);
}

if (problems.length > 0) {
  console.error(`pop3-core purity check failed:\n- ${problems.join("\n- ")}`);
  process.exit(1);
}
console.log("pop3-core purity check: no dependencies (imports: see dependency-cruiser)");
