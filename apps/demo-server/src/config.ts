import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";

/**
 * Demo server configuration: defaults, then a JSON file (`--config` or POP3_DEMO_CONFIG), then
 * environment variables, validated once with zod.
 */
const configSchema = z.object({
  host: z.string().min(1).default("127.0.0.1"),
  port: z.number().int().min(0).max(65535).default(1110),
  tlsPort: z.number().int().min(0).max(65535).default(1995),
  /** Where the Maildirs, the user file and the certificate live. */
  dataDir: z.string().min(1).default("data"),
  log: z.enum(["pretty", "json"]).default("pretty"),
  logLevel: z.enum(["debug", "info", "warn", "error"]).default("info"),
  /** Seconds between logins of one user (RFC 2449 LOGIN-DELAY); 0 = off. */
  loginDelaySeconds: z.number().int().min(0).default(0),
});

export type DemoConfig = z.output<typeof configSchema>;

const ENV: Record<string, keyof DemoConfig> = {
  POP3_DEMO_HOST: "host",
  POP3_DEMO_PORT: "port",
  POP3_DEMO_TLS_PORT: "tlsPort",
  POP3_DEMO_DATA: "dataDir",
  POP3_DEMO_LOG: "log",
  POP3_DEMO_LOG_LEVEL: "logLevel",
  POP3_DEMO_LOGIN_DELAY: "loginDelaySeconds",
};

const NUMERIC = new Set<keyof DemoConfig>(["port", "tlsPort", "loginDelaySeconds"]);

export class DemoConfigError extends Error {
  readonly code = "POP3_CONFIG";
}

export function loadConfig(
  env: NodeJS.ProcessEnv,
  overrides: { configFile?: string | undefined; json?: boolean | undefined } = {},
): DemoConfig {
  const raw: Record<string, unknown> = {};
  const file = overrides.configFile ?? env["POP3_DEMO_CONFIG"];
  if (file !== undefined) {
    try {
      Object.assign(raw, JSON.parse(readFileSync(file, "utf8")));
    } catch (error) {
      throw new DemoConfigError(`cannot read config file ${file}: ${(error as Error).message}`);
    }
  }
  for (const [name, key] of Object.entries(ENV)) {
    const value = env[name];
    if (value === undefined || value === "") continue;
    raw[key] = NUMERIC.has(key) && /^\d+$/.test(value) ? Number(value) : value;
  }
  if (overrides.json) raw["log"] = "json";
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const source = Object.entries(ENV).find(([, key]) => key === issue.path[0])?.[0];
      return `- ${issue.path.join(".")}${source ? ` (${source})` : ""}: ${issue.message}`;
    });
    throw new DemoConfigError(`invalid demo server configuration:\n${problems.join("\n")}`);
  }
  return { ...result.data, dataDir: resolve(result.data.dataDir) };
}

/**
 * `--workers N|auto`: how many processes serve (node:cluster, sharing the ports); undefined
 * without the flag, which keeps the single-process server.
 */
export function parseWorkers(value: string | undefined): number | "auto" | undefined {
  if (value === undefined) return undefined;
  if (value === "auto") return "auto";
  if (/^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= 1024) return Number(value);
  throw new DemoConfigError(`--workers takes a number from 1 to 1024 or "auto", not ${value}`);
}
