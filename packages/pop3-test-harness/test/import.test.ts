import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { build, type Options } from "tsup";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import config from "../tsup.config";

/**
 * The harness must not load `selfsigned` (and the X.509 stack under it) until TLS is asked for.
 * Checked on a fresh build of src with the package's own tsup config, not on dist/, which the test
 * task does not rebuild; and in a Node process of its own, where nothing else loaded it first.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
let out: string;

beforeAll(async () => {
  // Under the package's node_modules, so the build resolves its dependencies from there.
  await mkdir(join(root, "node_modules", ".cache"), { recursive: true });
  out = await mkdtemp(join(root, "node_modules", ".cache", "import-test-"));
  const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as {
    dependencies: Record<string, string>;
  };
  await build({
    ...(config as Options),
    config: false,
    entry: [join(root, "src", "index.ts")],
    outDir: out,
    tsconfig: join(root, "tsconfig.json"),
    // Named explicitly: a bundled selfsigned would never show up as loaded (the control below
    // would catch that, but with a less helpful message).
    external: Object.keys(pkg.dependencies),
    // No package.json above node_modules/.cache says "module": name the formats by extension.
    outExtension: ({ format }) => ({ js: format === "esm" ? ".mjs" : ".cjs" }),
    dts: false,
    sourcemap: false,
    clean: false,
    silent: true,
  });
}, 60_000);
afterAll(async () => {
  if (out !== undefined) await rm(out, { recursive: true, force: true });
});

/**
 * Runs `body` in a new Node process after the harness is loaded as `harness`; `loaded()` tells
 * whether selfsigned's own files are in the CommonJS module cache (selfsigned is CommonJS, so an
 * ES import of it lands there too). Resolves to what the script printed.
 */
async function inNode(format: "esm" | "cjs", body: string): Promise<unknown> {
  const loaded = `const loaded = () => Object.keys(cache).some((k) => /[\\\\/]node_modules[\\\\/]selfsigned[\\\\/]/.test(k));`;
  const script =
    format === "esm"
      ? `import { createRequire } from "node:module";
         const cache = createRequire(import.meta.url).cache;
         ${loaded}
         const harness = await import(${JSON.stringify(pathToFileURL(join(out, "index.mjs")).href)});
         ${body}`
      : `(async () => {
           const cache = require.cache;
           ${loaded}
           const harness = require(${JSON.stringify(join(out, "index.cjs"))});
           ${body}
         })().catch((e) => { console.error(e); process.exit(1); });`;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [...(format === "esm" ? ["--input-type=module"] : []), "-e", script],
    { cwd: root, timeout: 30_000 },
  );
  return JSON.parse(stdout);
}

describe.each(["esm", "cjs"] as const)("importing the harness (%s)", (format) => {
  it("does not load selfsigned for a server without TLS, and does once TLS is asked for", async () => {
    const result = await inNode(
      format,
      `const atImport = loaded();
       const plain = await harness.createTestServer();
       await plain.close();
       const withoutTls = loaded();
       const secure = await harness.createTestServer({ tls: true });
       await secure.close();
       console.log(JSON.stringify({ atImport, withoutTls, withTls: loaded(), tlsUrl: secure.tlsUrl }));`,
    );
    // `withTls` is the control: it shows `loaded()` can see selfsigned at all.
    expect(result).toMatchObject({
      atImport: false,
      withoutTls: false,
      withTls: true,
      tlsUrl: expect.stringMatching(/^pop3s:\/\/127\.0\.0\.1:\d+$/),
    });
  }, 60_000);
});
