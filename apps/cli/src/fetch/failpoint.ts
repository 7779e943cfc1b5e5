/**
 * Crash-test hooks. With `POP3_CLI_FAILPOINT=<name>:<n>` in the environment, the n-th time the
 * fetch reaches the point `<name>`, it writes `failpoint <name> <n>` to stderr and stops there,
 * waiting to be killed (the tests send SIGKILL). Without the variable this does nothing.
 *
 * Points: maildir-tmp-written, maildir-renamed, mbox-partial, mbox-appended, recorded,
 * marked-deleted, before-quit.
 */
const spec = process.env["POP3_CLI_FAILPOINT"];
const [wanted, nth] = spec === undefined ? [] : spec.split(":");
let hits = 0;

export async function failpoint(name: string): Promise<void> {
  if (wanted === undefined || wanted !== name) return;
  hits += 1;
  if (hits !== Number(nth ?? "1")) return;
  process.stderr.write(`failpoint ${name} ${hits}\n`);
  // Keep the process alive until it is killed.
  setInterval(() => {}, 60_000);
  await new Promise<never>(() => {});
}
