import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // pop3-server from source, as its own tests see it: the store contract suite (imported from
    // pop3-server's test folder) checks `instanceof MaildropInUseError` against those classes.
    alias: [
      {
        find: /^pop3-server$/,
        replacement: fileURLToPath(new URL("../pop3-server/src/index.ts", import.meta.url)),
      },
    ],
  },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // One database cluster for every file, and one test restarts it: files run one at a time.
    fileParallelism: false,
  },
});
