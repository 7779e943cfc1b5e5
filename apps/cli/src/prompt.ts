import { CliError, EXIT } from "./errors";

/**
 * Asks for a password on the terminal without echoing it. Only called when stdin is a TTY; the
 * prompt goes to stderr so that stdout stays clean for data.
 */
export function promptPassword(
  prompt: string,
  input: NodeJS.ReadStream = process.stdin,
  output: NodeJS.WriteStream = process.stderr,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const wasRaw = input.isRaw;
    input.setRawMode(true);
    input.setEncoding("utf8");
    input.resume();
    output.write(prompt);
    let value = "";
    const done = (error?: Error): void => {
      input.removeListener("data", onData);
      input.setRawMode(wasRaw);
      input.pause();
      output.write("\n");
      if (error === undefined) resolve(value);
      else reject(error);
    };
    const onData = (chunk: string): void => {
      for (const char of chunk) {
        if (char === "\r" || char === "\n") {
          done();
          return;
        }
        if (char === "\u0003") {
          done(new CliError(EXIT.INTERRUPTED, "interrupted"));
          return;
        }
        if (char === "\u0004") {
          if (value === "") {
            done(new CliError(EXIT.USAGE, "no password given"));
            return;
          }
          done();
          return;
        }
        if (char === "\u007f" || char === "\b") value = value.slice(0, -1);
        else if (char === "\u0015")
          value = ""; // Ctrl-U
        else if (char >= " ") value += char;
      }
    };
    input.on("data", onData);
  });
}
