/**
 * The logging interface: the shape of pino's (`logger.info({ user }, "logged in")`), so a pino
 * instance can be passed as it is. The server never logs a password, token or message body.
 */
export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

const ignore = (): void => {};

export const silentLogger: Logger = { debug: ignore, info: ignore, warn: ignore, error: ignore };

export function isLogger(value: unknown): value is Logger {
  if (typeof value !== "object" || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return ["debug", "info", "warn", "error"].every(
    (level) => typeof candidate[level] === "function",
  );
}
