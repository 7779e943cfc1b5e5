import type { CheckDefinition } from "../check";
import { EXTENSION_CHECKS } from "./extensions";
import { FINAL_CHECKS } from "./final";
import { MAILBOX_CHECKS } from "./mailbox";
import { SESSION_CHECKS } from "./session";

/** Every check, in the order the report lists them. */
export const ALL_CHECKS: readonly CheckDefinition[] = [
  ...SESSION_CHECKS,
  ...MAILBOX_CHECKS,
  ...EXTENSION_CHECKS,
  ...FINAL_CHECKS,
];
