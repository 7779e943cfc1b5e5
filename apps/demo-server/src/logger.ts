import type { Logger } from "pop3-server";

const LEVELS = ["debug", "info", "warn", "error"] as const;
type Level = (typeof LEVELS)[number];

/** A pino-shaped logger: readable lines on a terminal by default, JSON lines with `json`. */
export function createLogger(
  format: "pretty" | "json",
  minimum: Level,
  out: NodeJS.WritableStream = process.stderr,
): Logger {
  const threshold = LEVELS.indexOf(minimum);
  const colour =
    format === "pretty" &&
    process.env["NO_COLOR"] === undefined &&
    (out as { isTTY?: boolean }).isTTY === true;
  const paint: Record<Level, string> = {
    debug: "\x1b[90m",
    info: "\x1b[36m",
    warn: "\x1b[33m",
    error: "\x1b[31m",
  };
  const write = (level: Level, fields: Record<string, unknown>, message: string): void => {
    if (LEVELS.indexOf(level) < threshold) return;
    const time = new Date().toISOString();
    if (format === "json") {
      out.write(`${JSON.stringify({ time, level, msg: message, ...fields })}\n`);
      return;
    }
    const detail = Object.entries(fields)
      .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
      .join(" ");
    const tag = colour
      ? `${paint[level]}${level.toUpperCase().padEnd(5)}\x1b[0m`
      : level.toUpperCase().padEnd(5);
    out.write(`${time.slice(11, 19)} ${tag} ${message}${detail ? ` ${detail}` : ""}\n`);
  };
  return {
    debug: (fields, message) => write("debug", fields, message),
    info: (fields, message) => write("info", fields, message),
    warn: (fields, message) => write("warn", fields, message),
    error: (fields, message) => write("error", fields, message),
  };
}
