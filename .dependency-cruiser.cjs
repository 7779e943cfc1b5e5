// Layering and cycle rules of the monorepo, checked by `pnpm lint` (dependency-cruiser).
//
//   pop3-core  <-  pop3-server, pop3-client  <-  pop3-test-harness  <-  apps (cli, demo-server)
//                  pop3-store-postgres (on pop3-server and pop3-core)
//
// Dependencies point down only. A workspace package is reached either through its folder
// (packages/x/..., its dist/ once built) or, when dist/ is not built yet, as the bare name that
// could not be resolved: `pkg()` matches both, so the rules hold with or without a build.

/** A path pattern for workspace package `name` in folder `dir` (packages or apps). */
const pkg = (name, dir = "packages") => `^(${dir}/${name}/|${name}($|/))`;

const SERVER = pkg("pop3-server");
const CLIENT = pkg("pop3-client");
const HARNESS = pkg("pop3-test-harness");
const POSTGRES = pkg("pop3-store-postgres");
const APPS = `^(apps/|(pop3-cli|demo-server)($|/))`;

/** Forbids `from` (a folder pattern) to import anything matching one of `to`. */
const notTo = (name, comment, from, to) => ({
  name,
  comment,
  severity: "error",
  from: { path: from },
  to: { path: to },
});

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment:
        "An import cycle (type-only imports count too): modules in a circle can not be read, " +
        "tested or loaded apart. Move the shared part into a module both import.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "core-imports-only-itself",
      comment:
        "pop3-core runs in every JavaScript runtime: its source imports only its own files " +
        "(no node:* modules, no packages).",
      severity: "error",
      from: { path: "^packages/pop3-core/src/" },
      to: { pathNot: "^packages/pop3-core/src/" },
    },
    notTo(
      "core-tests-import-no-workspace-package",
      "pop3-core's tests test pop3-core: no layer above it.",
      "^packages/pop3-core/test/",
      [SERVER, CLIENT, HARNESS, POSTGRES, APPS],
    ),
    notTo(
      "server-not-to-client",
      "pop3-server and pop3-client are siblings on pop3-core: neither imports the other.",
      "^packages/pop3-server/",
      [CLIENT, HARNESS, POSTGRES, APPS],
    ),
    notTo(
      "client-not-to-server",
      "pop3-client and pop3-server are siblings on pop3-core: neither imports the other.",
      "^packages/pop3-client/",
      [SERVER, HARNESS, POSTGRES, APPS],
    ),
    notTo(
      "postgres-store-source-on-server-and-core",
      "pop3-store-postgres is a MailStore: its source builds on pop3-server and pop3-core only.",
      "^packages/pop3-store-postgres/src/",
      [CLIENT, HARNESS, APPS],
    ),
    notTo(
      "postgres-store-tests-not-to-apps",
      "pop3-store-postgres's tests may drive it with the client and the harness, never an app.",
      "^packages/pop3-store-postgres/test/",
      [APPS],
    ),
    notTo(
      "harness-not-upward",
      "pop3-test-harness sits on pop3-server and pop3-client; stores and apps sit above it.",
      "^packages/pop3-test-harness/",
      [POSTGRES, APPS],
    ),
  ],
  options: {
    // Keep the edges into other packages' dist/ and into node_modules, but do not crawl them.
    doNotFollow: { path: ["node_modules", "/dist/"] },
    // Count `import type` as a dependency: a type-only import across layers is still one.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.base.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      mainFields: ["module", "main", "types", "typings"],
    },
    skipAnalysisNotInRules: true,
  },
};
