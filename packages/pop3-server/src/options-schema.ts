import { hostname } from "node:os";
import type * as Zod from "zod";
import type { Authenticator } from "./auth/types";
import { isLogger, type Logger } from "./logger";
import type { ServerObserver } from "./observer";
import type { MailStore } from "./store/types";

const SASL = ["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "OAUTHBEARER"] as const;

/**
 * The options schema, built from the zod module it is given: options.ts loads zod on the first
 * `createServer`, not when pop3-server is imported (zod is most of a cold import's time).
 */
export function serverOptionsSchema(z: typeof Zod) {
  const pem = z.union([z.string().min(1), z.instanceof(Buffer)]);
  const pemList = z.union([pem, z.array(pem)]);

  const certificateSchema = z.object({ key: pemList, cert: pemList });

  const tlsSchema = z.object({
    key: pemList,
    cert: pemList,
    ca: pemList.optional(),
    /** Certificates by server name (SNI); the default pair above answers any other name. */
    sni: z.record(z.string().min(1), certificateSchema).optional(),
    minVersion: z.enum(["TLSv1.2", "TLSv1.3"]).default("TLSv1.2"),
  });

  const listenerSchema = z.object({
    host: z.string().min(1).default("127.0.0.1"),
    port: z.number().int().min(0).max(65535),
    /**
     * Every connection starts with a PROXY protocol header (v1 or v2, e.g. HAProxy `send-proxy-v2`)
     * giving the client's real address; connections without a valid one are closed. Only for
     * listeners that nothing but the proxy can reach.
     */
    proxyProtocol: z.boolean().default(false),
  });

  const limitsSchema = z.object({
    /** Longest command line, CRLF included. RFC 2449 §4 requires at least 255. */
    maxLineLength: z.number().int().min(255).max(65536).default(1024),
    /** Longest argument. RFC 1939 says 40; real user names and passwords are longer. */
    maxArgumentLength: z.number().int().min(40).max(65536).default(255),
    /** Longest AUTH line or SASL response (OAuth tokens are long). */
    maxSaslLineLength: z.number().int().min(255).max(1048576).default(16384),
    /** Bad or refused commands in one session before the server hangs up. */
    maxBadCommands: z.number().int().min(1).default(10),
    /** Commands accepted before a successful login. */
    maxCommandsBeforeLogin: z.number().int().min(1).default(50),
    /** Failed logins in one session before the server hangs up. */
    maxAuthFailures: z.number().int().min(1).default(3),
    /**
     * Connections at once, counted from TCP accept (a TLS handshake or PROXY header holds a slot
     * too). When full, a new connection takes the place of the oldest one that has not logged in.
     */
    maxConnections: z.number().int().min(1).default(1000),
    maxConnectionsPerAddress: z.number().int().min(1).default(50),
    /** Connections of one address that have not logged in yet; more are refused. */
    maxPreLoginConnectionsPerAddress: z.number().int().min(1).default(10),
    /**
     * Total time from the greeting to a successful login, however busy the client keeps the line
     * (one byte every few seconds resets an idle timer, not this one).
     */
    loginTimeoutMs: z.number().int().min(1000).default(120_000),
    /**
     * Unsent output of one connection above which its next command is not read until the client
     * has read some: a client that pipelines and never reads costs this much, not gigabytes.
     */
    outputHighWaterBytes: z.number().int().min(16_384).max(16_777_216).default(65_536),
    /**
     * How long a connection being closed (QUIT, a limit, a timeout, shutdown) may take to read its
     * last answer before the socket is destroyed.
     */
    closeTimeoutMs: z.number().int().min(0).default(2000),
    /** Idle time allowed after login. RFC 1939 §3: at least 10 minutes. */
    idleTimeoutMs: z.number().int().min(600_000).default(600_000),
    /** Idle time allowed before login. */
    preLoginTimeoutMs: z.number().int().min(1000).default(60_000),
    /** How long a client may leave the server's output unread before it is dropped. */
    writeTimeoutMs: z.number().int().min(1000).default(60_000),
    /** How long the TLS handshake after STLS, or on the implicit-TLS port, may take. */
    tlsHandshakeTimeoutMs: z.number().int().min(1000).default(30_000),
    /** How long a `proxyProtocol` listener waits for the PROXY header before closing. */
    proxyHeaderTimeoutMs: z.number().int().min(100).default(10_000),
    /** Pause reading a client whose unanswered pipelined commands pass this many bytes. */
    maxPipelinedBytes: z.number().int().min(1024).default(65536),
    /**
     * Delay before checking a login from an address with recent failures; doubles per failure of
     * the address. Addresses without recent failures are never delayed.
     */
    failedLoginDelayMs: z.number().int().min(0).default(1000),
    maxFailedLoginDelayMs: z.number().int().min(0).default(15_000),
    /**
     * Failed logins of one address per window (checks in progress count) before its attempts are
     * refused with `[SYS/TEMP]` without a check: at most this many guesses per window per address.
     */
    maxFailedLoginsPerAddress: z.number().int().min(1).default(10),
    /**
     * Failed logins against one user per window before attempts on it are refused — except from
     * an address with no recent failure, so guessers cannot lock the real user out.
     */
    maxFailedLoginsPerUser: z.number().int().min(1).default(20),
    /** Failures of an address or user are forgotten this long after its last one. */
    failedLoginWindowMs: z.number().int().min(1000).default(900_000),
    /** Password hashes (scrypt) run at once, each on a worker thread of its own. */
    passwordHashConcurrency: z.number().int().min(1).max(64).default(2),
    /** Password hashes that may wait for a thread; past this a login gets `[SYS/TEMP]` at once. */
    passwordHashQueueLength: z.number().int().min(0).default(32),
    /** A password hash that waited this long for a thread is refused with `[SYS/TEMP]`. */
    passwordHashQueueTimeoutMs: z.number().int().min(100).default(10_000),
    /** How long `close()` lets running sessions finish before ending them (without UPDATE). */
    shutdownGraceMs: z.number().int().min(0).default(10_000),
  });

  return z.object({
    store: z.custom<MailStore>(
      (v) => typeof (v as MailStore | undefined)?.openMaildrop === "function",
      "store must implement openMaildrop(user)",
    ),
    auth: z.custom<Authenticator>(
      (v) => typeof (v as Authenticator | undefined)?.verifyPassword === "function",
      "auth must implement verifyPassword(user, password, context)",
    ),
    /** The plain listener; STLS is offered on it when `tls` is set. */
    plain: listenerSchema.optional(),
    /** The implicit-TLS listener (the port 995 role, RFC 8314). Needs `tls`. */
    implicitTls: listenerSchema.optional(),
    tls: tlsSchema.optional(),
    /**
     * Allow USER/PASS and AUTH PLAIN/LOGIN without TLS. Off by default (RFC 2595 §2.2: servers
     * MUST be able to refuse them); turn on only for loopback or trusted networks.
     */
    allowCleartextAuth: z.boolean().default(false),
    /** The host name in the APOP timestamp, CRAM-MD5 challenges and logs. */
    hostname: z.string().min(1).default(hostname()),
    greeting: z
      .string()
      .max(200)
      .refine((s) => !/[\r\n\0]/.test(s), "greeting must not contain CR, LF or NUL")
      .default("POP3 server ready"),
    /** Text of the IMPLEMENTATION capability; `false` hides it. */
    implementation: z.union([z.string().min(1).max(200), z.literal(false)]).default("pop3-server"),
    /** Offer APOP (only when `auth` can give a shared secret). */
    apop: z.boolean().default(true),
    /** SASL mechanisms to offer, in order of preference; each is offered only when it can work. */
    saslMechanisms: z.array(z.enum(SASL)).default([...SASL]),
    /** RFC 2449 LOGIN-DELAY: minimum seconds between logins of one user, enforced. */
    loginDelaySeconds: z.number().int().min(0).optional(),
    /** RFC 2449 EXPIRE: days mail is kept after retrieval, or "NEVER". Advertised only. */
    expire: z.union([z.number().int().min(0), z.literal("NEVER")]).optional(),
    limits: limitsSchema.default(limitsSchema.parse({})),
    logger: z.custom<Logger>(isLogger, "logger must have debug, info, warn and error").optional(),
    /** Hooks for metrics and auditing (see `ServerObserver`; `pop3-server/metrics` has one). */
    observer: z
      .custom<ServerObserver>(
        (v) => typeof v === "object" && v !== null,
        "observer must be an object",
      )
      .optional(),
  });
}
