import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/**
 * The tests run the built CLI as a child process, and turbo builds only this package's
 * dependencies before `test`: build the CLI itself once here. This build keeps the crash-test
 * failpoints (POP3_CLI_BUILD_FAILPOINTS=1, see tsup.config.ts and src/fetch/failpoint.ts) that
 * `pnpm build`, and so the published package, leaves out.
 */
export default function setup(): void {
  const root = fileURLToPath(new URL("..", import.meta.url));
  execFileSync(fileURLToPath(new URL("../node_modules/.bin/tsup", import.meta.url)), [], {
    cwd: root,
    env: { ...process.env, POP3_CLI_BUILD_FAILPOINTS: "1" },
    stdio: ["ignore", "ignore", "inherit"],
  });
}
