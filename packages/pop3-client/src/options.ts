import { createRequire } from "node:module";
import type * as Zod from "zod";
import { ClientError } from "./errors";
import { clientOptionsSchema } from "./options-schema";

export type { TraceEvent } from "./options-schema";

type Schema = ReturnType<typeof clientOptionsSchema>;
export type ClientOptions = Zod.input<Schema>;
export type ResolvedClientOptions = Zod.output<Schema>;

let schema: Schema | undefined;

/**
 * Built on first use: zod takes ~80 ms to load, several times the rest of pop3-client, so it is
 * required here rather than imported at the top, and `import("pop3-client")` stays fast.
 */
function loadSchema(): Schema {
  schema ??= clientOptionsSchema(createRequire(import.meta.url)("zod") as typeof Zod);
  return schema;
}

export function resolveClientOptions(input: ClientOptions): ResolvedClientOptions {
  const result = loadSchema().safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const path = issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
      return `${path}${issue.message}`;
    });
    throw new ClientError(
      "POP3_CONFIG",
      `invalid pop3-client options:\n- ${problems.join("\n- ")}`,
    );
  }
  return result.data;
}
