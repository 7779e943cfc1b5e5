import cluster from "node:cluster";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  addUserToFile,
  createServer,
  type Logger,
  MaildirStore,
  type Pop3Server,
  type ServerAddresses,
  serveInWorkers,
  userFile,
} from "pop3-server";
import { generateCertificate } from "pop3-test-harness";
import { banner } from "./banner";
import { type DemoConfig, DemoConfigError, loadConfig, parseWorkers } from "./config";
import { createLogger } from "./logger";
import { aliceMessages, bobMessages } from "./seed";

const USAGE = `Usage:
  pop3-demo-server [--config FILE] [--json] [--workers N|auto]
                                                start the demo server (N processes sharing
                                                the ports with --workers; auto: one per CPU)
  pop3-demo-server deliver USER [FILE|-]        add a message to USER's Maildir (stdin with -);
                                                from the repository root: pnpm demo deliver ...
  pop3-demo-server --help

Environment: POP3_DEMO_HOST (127.0.0.1), POP3_DEMO_PORT (1110), POP3_DEMO_TLS_PORT (1995),
POP3_DEMO_DATA (./data), POP3_DEMO_LOG (pretty|json), POP3_DEMO_LOG_LEVEL, POP3_DEMO_LOGIN_DELAY,
POP3_DEMO_CONFIG (a JSON file with the same keys: host, port, tlsPort, dataDir, log, logLevel).`;

const DEMO_USERS = { alice: "alice", bob: "bob" } as const;

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || (isIP(host) === 4 && host.startsWith("127."));
}

/** First start: users, a certificate, and seeded Maildirs. Later starts reuse them. */
async function prepare(
  config: DemoConfig,
  store: MaildirStore,
): Promise<{ key: string; cert: string }> {
  const tlsDir = join(config.dataDir, "tls");
  const keyPath = join(tlsDir, "key.pem");
  const certPath = join(tlsDir, "cert.pem");
  if (!existsSync(certPath)) {
    mkdirSync(tlsDir, { recursive: true, mode: 0o700 });
    const generated = await generateCertificate({ days: 365 });
    writeFileSync(keyPath, generated.key, { mode: 0o600 });
    writeFileSync(certPath, generated.cert);
  }
  const usersPath = join(config.dataDir, "users");
  if (!existsSync(usersPath)) {
    for (const [user, password] of Object.entries(DEMO_USERS))
      await addUserToFile(usersPath, user, password);
    for (const message of aliceMessages()) await store.deliver("alice", message);
    for (const message of bobMessages()) await store.deliver("bob", message);
  }
  return { key: readFileSync(keyPath, "utf8"), cert: readFileSync(certPath, "utf8") };
}

async function start(args: readonly string[]): Promise<void> {
  const configFile = flagValue(args, "--config");
  const config = loadConfig(process.env, { configFile, json: args.includes("--json") });
  const workers = parseWorkers(flagValue(args, "--workers"));
  const logger = createLogger(config.log, config.logLevel);
  if (workers !== undefined) return startWorkers(config, logger, workers);
  mkdirSync(config.dataDir, { recursive: true });
  const tls = await prepare(config, new MaildirStore({ root: join(config.dataDir, "mail") }));
  const server = demoServer(config, logger, tls);
  printBanner(config, await server.listen(), "");

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, "shutting down");
    void server.close().then(() => process.exit(0));
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

/**
 * Several processes: cluster re-runs this script in each worker, where serveInWorkers calls
 * setup(). Only the primary prepares the data directory, so workers never race to create it.
 * Each worker has its own MaildirStore; the `pop3.lock` file keeps a maildrop to one session
 * across all of them.
 */
async function startWorkers(
  config: DemoConfig,
  logger: Logger,
  workers: number | "auto",
): Promise<void> {
  if (cluster.isPrimary) {
    mkdirSync(config.dataDir, { recursive: true });
    await prepare(config, new MaildirStore({ root: join(config.dataDir, "mail") }));
  }
  const served = await serveInWorkers({
    workers,
    setup: () => demoServer(config, logger, readTls(config)),
    logger,
  });
  if (served.role !== "primary") return;
  const pids = served.workers.map((worker) => worker.pid).join(", ");
  printBanner(
    config,
    served.addresses,
    `  workers       ${served.workers.length} (pids ${pids})\n`,
  );
}

function readTls(config: DemoConfig): { key: string; cert: string } {
  const tlsDir = join(config.dataDir, "tls");
  return {
    key: readFileSync(join(tlsDir, "key.pem"), "utf8"),
    cert: readFileSync(join(tlsDir, "cert.pem"), "utf8"),
  };
}

function demoServer(
  config: DemoConfig,
  logger: Logger,
  tls: { key: string; cert: string },
): Pop3Server {
  return createServer({
    store: new MaildirStore({ root: join(config.dataDir, "mail") }),
    auth: userFile(join(config.dataDir, "users")),
    plain: { host: config.host, port: config.port },
    implicitTls: { host: config.host, port: config.tlsPort },
    tls,
    // Cleartext passwords only where they cannot leave the machine.
    allowCleartextAuth: isLoopback(config.host),
    greeting: "pop3-toolkit demo server ready",
    implementation: "pop3-toolkit demo",
    ...(config.loginDelaySeconds > 0 ? { loginDelaySeconds: config.loginDelaySeconds } : {}),
    // Ctrl-C should feel quick: give running sessions two seconds, then end them without UPDATE.
    limits: { shutdownGraceMs: 2000 },
    logger,
  });
}

function printBanner(config: DemoConfig, addresses: ServerAddresses, extra: string): void {
  process.stdout.write(
    banner({
      host: config.host,
      plainPort: addresses.plain?.port,
      tlsPort: addresses.implicitTls?.port,
      dataDir: config.dataDir,
      // dist/main.js is apps/demo-server/dist/main.js: the root is where `pnpm demo` runs.
      repoRoot: fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, ""),
      extra,
      loopback: isLoopback(config.host),
    }),
  );
}

async function deliver(args: readonly string[]): Promise<void> {
  const [user, file = "-"] = args;
  if (user === undefined) throw new DemoConfigError("deliver needs a user: deliver USER [FILE|-]");
  const config = loadConfig(process.env, { configFile: flagValue(args, "--config") });
  const store = new MaildirStore({ root: join(config.dataDir, "mail") });
  const message = file === "-" ? await readStdin() : await readFile(file);
  const path = await store.deliver(user, message);
  process.stdout.write(`${path}\n`);
}

async function readStdin(): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of process.stdin) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

function flagValue(args: readonly string[], flag: string): string | undefined {
  const index = args.indexOf(flag);
  return index === -1 ? undefined : args[index + 1];
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (args[0] === "deliver") return deliver(args.slice(1));
  return start(args);
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`pop3-demo-server: ${message}\n`);
  process.exit(error instanceof DemoConfigError ? 2 : 1);
});
