import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/**
 * The tests run the built CLI as a child process, and turbo builds only this package's
 * dependencies before `test`: build the CLI itself once here.
 */
export default function setup(): void {
  const root = fileURLToPath(new URL("..", import.meta.url));
  execFileSync(fileURLToPath(new URL("../node_modules/.bin/tsup", import.meta.url)), [], {
    cwd: root,
    stdio: ["ignore", "ignore", "inherit"],
  });
}
