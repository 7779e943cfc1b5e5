/**
 * Crash-test hooks. With `POP3_CLI_FAILPOINT=<name>:<n>` in the environment, the n-th time the
 * fetch reaches the point `<name>`, it writes `failpoint <name> <n>` to stderr and stops there,
 * waiting to be killed (the tests send SIGKILL). Without the variable this does nothing.
 *
 * Points: maildir-tmp-written, maildir-intent, maildir-renamed, mbox-partial, mbox-appended, recorded,
 * marked-deleted, before-quit.
 *
 * Only in the test build: tsup replaces `__POP3_CLI_FAILPOINTS__` with `false` unless
 * POP3_CLI_BUILD_FAILPOINTS=1 (set by test/global-setup.ts), and esbuild then drops
 * `stopAtFailpoint` and the variable's name from dist/, so a published `pop3` cannot be made to
 * hang by its environment. Run from source (vitest importing src/), the constant is not defined
 * and the hooks stay off too.
 */
declare const __POP3_CLI_FAILPOINTS__: boolean;

export const failpoint: (name: string) => Promise<void> =
  typeof __POP3_CLI_FAILPOINTS__ !== "undefined" && __POP3_CLI_FAILPOINTS__
    ? stopAtFailpoint
    : async () => {};

let hits = 0;

async function stopAtFailpoint(name: string): Promise<void> {
  const spec = process.env["POP3_CLI_FAILPOINT"];
  if (spec === undefined) return;
  const [wanted, nth] = spec.split(":");
  if (wanted !== name) return;
  hits += 1;
  if (hits !== Number(nth ?? "1")) return;
  process.stderr.write(`failpoint ${name} ${hits}\n`);
  // Keep the process alive until it is killed.
  setInterval(() => {}, 60_000);
  await new Promise<never>(() => {});
}
