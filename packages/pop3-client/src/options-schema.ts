import type { Duplex } from "node:stream";
import type * as Zod from "zod";

/** One line of the protocol as seen by the client, secrets already replaced by `***`. */
export interface TraceEvent {
  readonly direction: "send" | "receive";
  readonly line: string;
}

/**
 * The options schema, built from the zod module it is given: options.ts loads zod on the first
 * `connect`, not when pop3-client is imported (zod is most of a cold import's time).
 */
export function clientOptionsSchema(z: typeof Zod) {
  const pem = z.union([z.string().min(1), z.instanceof(Buffer)]);

  const timeoutsSchema = z.object({
    /** Dialling and the TLS handshake. */
    connect: z.number().int().positive().default(15_000),
    /** From connect to the greeting (a server past its limits may never greet). */
    greeting: z.number().int().positive().default(15_000),
    /** Silence while a command waits for (more of) its answer. */
    command: z.number().int().positive().default(60_000),
    /** Close the connection after this long with nothing to do (0: never). Nothing is deleted. */
    idle: z.number().int().min(0).default(0),
  });

  return z.object({
    host: z.string().min(1),
    /** Default 995 for implicit TLS, 110 otherwise. */
    port: z.number().int().min(1).max(65535).optional(),
    /** `starttls` (default) upgrades with STLS; `implicit` speaks TLS from the start (RFC 8314). */
    tls: z.enum(["implicit", "starttls", "none"]).default("starttls"),
    /** With `starttls`, carry on in cleartext when the server does not offer STLS. Off by default. */
    allowCleartext: z.boolean().default(false),
    tlsOptions: z
      .object({
        ca: z.union([pem, z.array(pem)]).optional(),
        /** The name the certificate must match instead of `host` (sent as SNI unless an IP). */
        servername: z.string().min(1).optional(),
        rejectUnauthorized: z.boolean().default(true),
        minVersion: z.enum(["TLSv1.2", "TLSv1.3"]).default("TLSv1.2"),
      })
      .default({ rejectUnauthorized: true, minVersion: "TLSv1.2" }),
    /** A connected socket to use instead of dialling (proxies, tests). */
    socket: z
      .custom<Duplex>((v) => typeof (v as Duplex | undefined)?.pipe === "function")
      .optional(),
    /** A function that dials; called instead of `net.connect`. */
    dialer: z
      .custom<(options: { host: string; port: number; signal: AbortSignal }) => Promise<Duplex>>(
        (v) => typeof v === "function",
      )
      .optional(),
    timeouts: timeoutsSchema.default(timeoutsSchema.parse({})),
    /** Aborts connecting (and everything after, if it is still attached). */
    signal: z.custom<AbortSignal>((v) => v instanceof AbortSignal).optional(),
    /** Sees every protocol line, secrets redacted; message bodies appear as their size only. */
    trace: z.custom<(event: TraceEvent) => void>((v) => typeof v === "function").optional(),
    /** A retrieved message whose size differs from LIST: an error (default) or a warning. */
    onSizeMismatch: z.enum(["error", "warn"]).default("error"),
    /** Called for warnings: a message without final newline; a size mismatch in warn mode. */
    onWarning: z.custom<(warning: Error) => void>((v) => typeof v === "function").optional(),
    /** Accept bare LF line ends from broken servers. */
    lenientLineEnds: z.boolean().default(false),
    /** Longest status line accepted. */
    maxLineLength: z.number().int().min(512).default(8192),
    /** Use PIPELINING when the server advertises it. */
    pipelining: z.boolean().default(true),
  });
}
