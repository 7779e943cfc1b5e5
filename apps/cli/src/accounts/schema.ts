import { z } from "zod";
import { parseSize } from "../args";
import { MECHANISMS } from "../config";
import { parsePin } from "../pin";

/**
 * The accounts file (TOML or JSON): optional `defaults`, then `accounts.NAME` tables. Keys are
 * written as the flags are (`max-size`) or in camelCase (`maxSize`); unknown keys are errors, so
 * a typo is not silently ignored.
 */

const seconds = z.number({ error: "must be a number of seconds" }).positive({
  error: "must be more than 0 seconds",
});
const wholeNumber = (what: string) =>
  z
    .number({ error: `must be ${what}` })
    .int({ error: `must be ${what}` })
    .min(0, {
      error: `must be ${what}`,
    });
const path = z.string({ error: "must be a file path" }).min(1, { error: "must not be empty" });

const size = z
  .union([z.number(), z.string()], { error: "must be a size like 5000000, 512k, 10M or 1G" })
  .transform((value, ctx) => {
    const octets = typeof value === "number" ? value : parseSize(value);
    if (octets === undefined || !Number.isInteger(octets) || octets < 0) {
      ctx.addIssue({ code: "custom", message: "must be a size like 5000000, 512k, 10M or 1G" });
      return z.NEVER;
    }
    return octets;
  });

const pin = z.string({ error: "must be a pin-sha256 value" }).superRefine((value, ctx) => {
  try {
    parsePin(value, "pin");
  } catch (error) {
    ctx.addIssue({ code: "custom", message: (error as Error).message.replace(/^pin: /, "") });
  }
});

/**
 * Settings of which one account gives at most one; one given in an account replaces those of
 * its group in `defaults` (an account with `mbox` ignores a default `maildir`).
 */
export const EXCLUSIVE_GROUPS: readonly (readonly string[])[] = [
  ["password", "passwordEnv", "passwordCommand"],
  ["maildir", "mbox", "mda"],
  ["keep", "delete", "deleteAfter"],
  ["url", "host"],
  ["url", "port"],
  ["url", "tls"],
];

/** `keep = false` does not clash with `delete = true`: only settings that are on count. */
function isOn(value: unknown): boolean {
  return value !== undefined && value !== false;
}

/** The settings of one account; every one may also stand in `defaults`. */
const fields = z.strictObject({
  url: z.string({ error: "must be a pop3:// or pop3s:// URL" }).optional(),
  host: z.string({ error: "must be a host name" }).min(1).optional(),
  port: z
    .number({ error: "must be a number from 1 to 65535" })
    .int({ error: "must be a number from 1 to 65535" })
    .min(1, { error: "must be from 1 to 65535" })
    .max(65535, { error: "must be from 1 to 65535" })
    .optional(),
  user: z
    .string({ error: "must be a user name" })
    .min(1, { error: "must not be empty" })
    .optional(),
  tls: z
    .enum(["implicit", "starttls", "none"], { error: "must be one of implicit, starttls, none" })
    .optional(),
  password: z.string({ error: "must be a string" }).optional(),
  passwordEnv: z
    .string({ error: "must be the name of an environment variable" })
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "must be the name of an environment variable" })
    .optional(),
  passwordCommand: z
    .string({ error: "must be a shell command" })
    .min(1, { error: "must not be empty" })
    .optional(),
  ca: path.optional(),
  servername: z.string().min(1, { error: "must not be empty" }).optional(),
  insecure: z.boolean({ error: "must be true or false" }).optional(),
  allowCleartext: z.boolean({ error: "must be true or false" }).optional(),
  timeout: seconds.optional(),
  mechanism: z
    .string({ error: `must be one of ${MECHANISMS.join(", ")}` })
    .transform((name) => name.toUpperCase())
    .pipe(
      z.enum(MECHANISMS as [string, ...string[]], {
        error: `must be one of ${MECHANISMS.join(", ")}`,
      }),
    )
    .optional(),
  pinSha256: z
    .union([pin, z.array(pin).min(1)], { error: "must be a pin or a list of pins" })
    .optional(),
  maildir: path.optional(),
  mbox: path.optional(),
  mda: z
    .string({ error: "must be a shell command" })
    .min(1, { error: "must not be empty" })
    .optional(),
  keep: z.boolean({ error: "must be true or false" }).optional(),
  delete: z.boolean({ error: "must be true or false" }).optional(),
  deleteAfter: wholeNumber("a whole number of days").optional(),
  limit: wholeNumber("a whole number of messages").optional(),
  maxSize: size.optional(),
  state: path.optional(),
});

export const accountFields = fields.superRefine(
  (value, ctx) => {
    const record = value as Record<string, unknown>;
    for (const group of EXCLUSIVE_GROUPS) {
      const given = group.filter((key) => isOn(record[key]));
      if (given.length > 1) {
        ctx.addIssue({
          code: "custom",
          message: `give one of ${group.join(", ")}, not ${given.join(" and ")}`,
        });
      }
    }
  },
  // Also when other settings are wrong: every problem of the file in one message.
  { when: () => true },
);

/** An account's settings over `defaults`: a group the account touches replaces the default's. */
export function mergeDefaults(defaults: AccountFields, account: AccountFields): AccountFields {
  const base: Record<string, unknown> = { ...defaults };
  const own = account as Record<string, unknown>;
  for (const group of EXCLUSIVE_GROUPS) {
    if (group.some((key) => own[key] !== undefined)) {
      for (const key of group) delete base[key];
    }
  }
  return { ...base, ...account } as AccountFields;
}

export type AccountFields = z.output<typeof accountFields>;

const ACCOUNT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export const accountsFile = z.strictObject({
  defaults: accountFields.optional(),
  accounts: z
    .record(z.string().regex(ACCOUNT_NAME), accountFields, {
      error: (issue) =>
        issue.code === "invalid_key"
          ? "an account name is letters, digits, '.', '_' and '-'"
          : "must be a table of accounts ([accounts.NAME])",
    })
    .refine((accounts) => Object.keys(accounts).length > 0, {
      error: "no account: add at least one [accounts.NAME] table",
    }),
});

/** `max-size` → `maxSize`: the flag spelling of a key, in the file's canonical camelCase. */
export function camelKey(key: string): string {
  return key.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
