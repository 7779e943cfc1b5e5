import { spawn } from "node:child_process";
import { CliError, EXIT } from "../errors";

/** How long a passwordCommand may take (a gpg-agent may ask for its passphrase first). */
export const PASSWORD_COMMAND_TIMEOUT_MS = 60_000;
/** More output than any password: the command is wrong (e.g. prints a whole file). */
const MAX_OUTPUT = 64 * 1024;

/**
 * Runs a passwordCommand with /bin/sh and returns the first line of its standard output (without
 * the line end). Its stderr goes to ours (what gpg or pass says); its stdout is never shown. A
 * non-zero exit, a signal, no output or the timeout is an error naming the account's setting,
 * never the output.
 */
export function runPasswordCommand(
  command: string,
  options: { from: string; env: NodeJS.ProcessEnv; timeoutMs?: number; signal?: AbortSignal },
): Promise<string> {
  const timeoutMs = options.timeoutMs ?? PASSWORD_COMMAND_TIMEOUT_MS;
  const fail = (why: string): CliError =>
    new CliError(EXIT.USAGE, `${options.from}: the password command ${why}`, {
      code: "POP3_PASSWORD_COMMAND",
    });
  return new Promise((resolve, reject) => {
    // Its own process group, so a timeout ends the shell and whatever it started.
    const child = spawn("/bin/sh", ["-c", command], {
      env: options.env,
      stdio: ["ignore", "pipe", "inherit"],
      detached: true,
    });
    const chunks: Buffer[] = [];
    let length = 0;
    let problem: CliError | undefined;
    const kill = (why: CliError): void => {
      problem ??= why;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    };
    const timer = setTimeout(
      () => kill(fail(`did not finish within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
    const onAbort = (): void => kill(fail("was interrupted"));
    options.signal?.addEventListener("abort", onAbort, { once: true });
    child.stdout.on("data", (chunk: Buffer) => {
      length += chunk.length;
      if (length > MAX_OUTPUT) kill(fail(`printed more than ${MAX_OUTPUT} bytes`));
      else chunks.push(chunk);
    });
    const finish = (): void => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
    };
    child.on("error", (error) => {
      // Not started (or not killable): 'close' may never come.
      finish();
      reject(problem ?? fail(`could not be started: ${error.message}`));
    });
    child.on("close", (code, signal) => {
      finish();
      if (problem !== undefined) return reject(problem);
      if (signal !== null) return reject(fail(`was ended by ${signal}`));
      if (code !== 0) return reject(fail(`exited with status ${code}`));
      const line = Buffer.concat(chunks).toString("utf8").split("\n")[0]?.replace(/\r$/, "");
      if (line === undefined || line === "") return reject(fail("printed no password"));
      resolve(line);
    });
  });
}
