import { readFile, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, extname, resolve } from "node:path";
import { parse as parseToml, TomlError } from "smol-toml";
import type { z } from "zod";
import { CliError, EXIT, isNodeError } from "../errors";
import type { Output } from "../output";
import { type AccountFields, accountsFile, camelKey, mergeDefaults } from "./schema";

/** One account of the file: its settings merged over `defaults`, paths made absolute. */
export interface AccountSpec extends AccountFields {
  readonly name: string;
  /** `accounts.NAME.KEY in FILE`, for messages about a setting. */
  readonly describe: (key: string) => string;
}

export interface AccountsFile {
  readonly path: string;
  readonly accounts: readonly AccountSpec[];
}

/** Settings that are file paths: relative to the file's folder; `~/` is the home folder. */
const PATH_KEYS = ["ca", "maildir", "mbox", "state"] as const;

/**
 * Reads and validates an accounts file (`.toml`, or `.json`; other names are read as JSON when
 * they start with `{`, else as TOML). Errors name the file and the setting's path.
 */
export async function loadAccounts(
  file: string,
  env: NodeJS.ProcessEnv,
  output: Output,
): Promise<AccountsFile> {
  const path = resolve(file);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new CliError(
      EXIT.USAGE,
      `--config: cannot read ${path}: ${isNodeError(error) ? error.code : String(error)}`,
      { code: "POP3_CONFIG" },
    );
  }
  const raw = parseText(path, text);
  const { value: normalized, spelling } = normalizeKeys(path, raw);
  const parsed = accountsFile.safeParse(normalized);
  if (!parsed.success) throw invalid(path, parsed.error, normalized, spelling);
  const home = env["HOME"] !== undefined && env["HOME"] !== "" ? env["HOME"] : homedir();
  const defaults = parsed.data.defaults ?? {};
  const accounts = Object.entries(parsed.data.accounts).map(([name, fields]) => {
    const merged: Record<string, unknown> = { ...mergeDefaults(defaults, fields) };
    for (const key of PATH_KEYS) {
      const value = merged[key];
      if (typeof value === "string") merged[key] = absolute(value, dirname(path), home);
    }
    const describe = (setting: string): string => {
      const key = camelKey(setting);
      const written = spelling.get(`accounts.${name}.${key}`);
      const inDefaults = written === undefined && spelling.has(`defaults.${key}`);
      return inDefaults
        ? `defaults.${spelling.get(`defaults.${key}`)} in ${path}`
        : `accounts.${name}.${written ?? key} in ${path}`;
    };
    return { ...(merged as AccountFields), name, describe };
  });
  if (accounts.some((a) => a.password !== undefined)) await warnIfReadable(path, output);
  return { path, accounts };
}

function parseText(path: string, text: string): unknown {
  const extension = extname(path).toLowerCase();
  const json = extension === ".json" || (extension !== ".toml" && /^\s*\{/.test(text));
  try {
    return json ? JSON.parse(text) : parseToml(text);
  } catch (error) {
    // Both parsers say where (line and column, or position); never the text itself, which
    // may hold a password.
    const message =
      error instanceof TomlError
        ? `line ${error.line}, column ${error.column}: ${error.message.split("\n")[0]}`
        : (error as Error).message;
    throw new CliError(EXIT.USAGE, `${path}: not valid ${json ? "JSON" : "TOML"}: ${message}`, {
      code: "POP3_CONFIG",
    });
  }
}

/**
 * `max-size` → `maxSize` in `defaults` and each account, remembering how each key was written
 * (`accounts.work.maxSize` → `max-size`) for messages.
 */
function normalizeKeys(
  path: string,
  raw: unknown,
): { value: unknown; spelling: Map<string, string> } {
  const spelling = new Map<string, string>();
  if (!isTable(raw)) return { value: raw, spelling };
  const table = (prefix: string, value: unknown): unknown => {
    if (!isTable(value)) return value;
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      const camel = camelKey(key);
      const earlier = spelling.get(`${prefix}.${camel}`);
      if (earlier !== undefined) {
        throw new CliError(
          EXIT.USAGE,
          `${path}: ${prefix}: ${earlier} and ${key} are the same setting; give it once`,
          { code: "POP3_CONFIG" },
        );
      }
      spelling.set(`${prefix}.${camel}`, key);
      out[camel] = inner;
    }
    return out;
  };
  const value: Record<string, unknown> = { ...raw };
  if ("defaults" in raw) value["defaults"] = table("defaults", raw["defaults"]);
  if (isTable(raw["accounts"])) {
    const accounts: Record<string, unknown> = {};
    for (const [name, fields] of Object.entries(raw["accounts"])) {
      accounts[name] = table(`accounts.${name}`, fields);
    }
    value["accounts"] = accounts;
  }
  return { value, spelling };
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Every problem, one per line: `accounts.work.max-size: must be a size …, got "lots"`. */
function invalid(
  path: string,
  error: z.ZodError,
  value: unknown,
  spelling: Map<string, string>,
): CliError {
  const lines = error.issues.map((issue) => {
    const keys = issue.path.map(String);
    const shown = keys.map((key, i) =>
      i === keys.length - 1 && i > 0 ? (spelling.get(keys.join(".")) ?? key) : key,
    );
    if (issue.code === "unrecognized_keys") {
      const prefix = keys.join(".");
      const names = issue.keys.map((k) => spelling.get(prefix === "" ? k : `${prefix}.${k}`) ?? k);
      return `${shown.join(".") || "(top level)"}: unknown setting${names.length > 1 ? "s" : ""} ${names.join(", ")}`;
    }
    const got = keys.at(-1) === "password" ? "" : describeValue(valueAt(value, keys));
    return `${shown.join(".") || "(top level)"}: ${issue.message}${got}`;
  });
  return new CliError(EXIT.USAGE, `invalid configuration in ${path}:\n  ${lines.join("\n  ")}`, {
    code: "POP3_CONFIG",
  });
}

function valueAt(value: unknown, keys: readonly string[]): unknown {
  let current = value;
  for (const key of keys) {
    if (!isTable(current) && !Array.isArray(current)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function describeValue(value: unknown): string {
  if (value === undefined || isTable(value)) return "";
  return `, got ${JSON.stringify(value)}`;
}

function absolute(value: string, base: string, home: string): string {
  if (value === "~") return home;
  if (value.startsWith("~/")) return resolve(home, value.slice(2));
  return resolve(base, value);
}

/** A password written in the file: the file must not be readable by others. */
async function warnIfReadable(path: string, output: Output): Promise<void> {
  const mode = (await stat(path)).mode;
  if ((mode & 0o077) !== 0) {
    output.warn(
      `${path} holds a password and can be read by others: chmod 600 ${path} (or use passwordCommand, passwordEnv or ~/.netrc)`,
    );
  }
}
