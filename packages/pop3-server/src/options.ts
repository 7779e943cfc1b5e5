import { createRequire } from "node:module";
import type * as Zod from "zod";
import { ConfigError } from "./errors";
import { type Logger, silentLogger } from "./logger";
import { serverOptionsSchema } from "./options-schema";

type Schema = ReturnType<typeof serverOptionsSchema>;
export type ServerOptions = Zod.input<Schema>;
export type ResolvedOptions = Omit<Zod.output<Schema>, "logger"> & {
  readonly logger: Logger;
};
export type ServerLimits = Zod.output<Schema>["limits"];
export type TlsOptions = NonNullable<Zod.output<Schema>["tls"]>;

let schema: Schema | undefined;

/**
 * Built on first use: zod takes ~80 ms to load, more than the rest of pop3-server, so it is
 * required here rather than imported at the top, and `import("pop3-server")` stays fast.
 */
function loadSchema(): Schema {
  schema ??= serverOptionsSchema(createRequire(import.meta.url)("zod") as typeof Zod);
  return schema;
}

/** Rules that tie fields together; checked on the raw input so they show beside field errors. */
function crossFieldProblems(input: Partial<ServerOptions>): string[] {
  const problems: string[] = [];
  if (input.plain === undefined && input.implicitTls === undefined) {
    problems.push("give at least one listener: plain or implicitTls");
  }
  if (input.implicitTls !== undefined && input.tls === undefined) {
    problems.push("tls: implicitTls needs tls (key and cert)");
  }
  return problems;
}

/** Validates options once, at the boundary; throws `ConfigError` listing every problem. */
export function resolveOptions(input: ServerOptions): ResolvedOptions {
  const result = loadSchema().safeParse(input);
  const problems = crossFieldProblems(input ?? {});
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
      problems.push(`${path}${issue.message}`);
    }
  }
  if (!result.success || problems.length > 0) {
    throw new ConfigError(`invalid pop3-server options:\n- ${problems.join("\n- ")}`);
  }
  return { ...result.data, logger: result.data.logger ?? silentLogger };
}
