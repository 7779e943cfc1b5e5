// The load generator of the server benchmarks: a small event-driven POP3 client on raw sockets,
// framed with pop3-core's LineReader (status lines) and MultilineDecoder (bodies), that can hold
// thousands of sessions in one process. It runs in a process of its own (forked by
// server.bench.mjs), never in a server's process, and talks the same way to every server: ours,
// Dovecot and the plain socket ceiling. One command at a time per session (no pipelining), as a
// typical mail client does.
//
//   fork("loadgen.mjs") and send one job at a time; each is answered with one message.
//   Every job that connects takes `host`, `port`, `localAddresses?` and `tls?` ({ servername? }:
//   implicit TLS, the certificate not verified, no session resumption, so each connection pays a
//   full handshake, as a new client does).
//   { type: "sessions", users: [[user, password], ...], concurrency, warmupMs, durationMs,
//     staggerMs?, workload? }
//       -> { sessions, whole, seconds, octets, errors, firstError, latencyMs: { median, p90 } }
//     `concurrency` workers, worker i always logs in as users[i % users.length] and starts
//     i/concurrency of `staggerMs` (default: half the warm-up) after the first, so that sessions
//     do not end in waves; each runs full sessions back to back (see `workload`). A session
//     counts for the part of its duration that falls in the window [warmupMs, warmupMs +
//     durationMs] (`sessions`, fractional: no quantisation to whole sessions per worker);
//     `whole` counts those that ended in the window. Then no new session starts, and those
//     still running finish.
//   { type: "batch", users, concurrency, workload? }
//       -> { sessions, seconds, octets, deleted, errors, firstError, latencyMs }: each user's
//     session exactly once, `concurrency` at a time (the delete workload: every mailbox is
//     full at the start of a batch, and each is emptied by half once).
//   workload "read" (default): USER, PASS, STAT, UIDL, LIST, RETR of every message, QUIT.
//   workload "delete": the same, then DELE of every second message (1, 3, 5, ...), QUIT (the
//     server's UPDATE: unlink + fsync); the QUIT must answer +OK.
//   { type: "retr", user, password, msg }
//       -> { seconds, octets }: one session; only `RETR msg` is timed (first byte sent to the
//     terminator read), the body unstuffed by MultilineDecoder and counted.
//   { type: "idle", users, count, parallel }
//       -> { open, seconds, errors, firstError, tls? }: `count` sessions logged in (USER/PASS,
//     session i as users[i % users.length]) and left idle; they stay open until { type: "close" }.
//   { type: "close" } -> { closed }: destroys the idle sessions.
// Every answer also has `cpuSeconds`: this process's CPU time (user + system) during the job,
// and `tls` (protocol and cipher of the first TLS connection) when the job used TLS.
import { connect } from "node:net";
import { performance } from "node:perf_hooks";
import { connect as tlsConnect } from "node:tls";
import { LINE_TOO_LONG, LineReader, MultilineDecoder } from "pop3-core";

const latin1 = new TextDecoder("latin1");
const REPLY_TIMEOUT_MS = 120_000;
/** What the first TLS connection of a job negotiated, for the report. */
let negotiated;

/** One POP3 connection: `command(text, multiline)` resolves with the status line and body size. */
class Pop3Connection {
  #socket;
  #reader = new LineReader(8192);
  /** The decoder of the multi-line body being read, if any. */
  #decoder;
  #octets = 0;
  /** The reply being waited for: { multiline, resolve, reject }. */
  #pending;
  #timer;
  #error;

  constructor(socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on("data", (chunk) => this.#onData(chunk));
    socket.on("error", (error) => this.#fail(error));
    socket.on("close", () => this.#fail(new Error("connection closed by the server")));
  }

  /** Connects (over TLS when `tls` is given) and reads the greeting. */
  static open({ host, port, localAddress, tls }) {
    const options = { host, port, ...(localAddress ? { localAddress } : {}) };
    const socket =
      tls === undefined
        ? connect(options)
        : tlsConnect({
            ...options,
            servername: tls.servername ?? "localhost",
            rejectUnauthorized: false,
            // No `session` given: every connection pays a full handshake, as a new client does.
          });
    if (tls !== undefined && negotiated === undefined) {
      socket.once("secureConnect", () => {
        negotiated ??= { protocol: socket.getProtocol(), cipher: socket.getCipher()?.name };
      });
    }
    const connection = new Pop3Connection(socket);
    return connection.#expect(false).then(() => connection);
  }

  command(text, multiline = false) {
    const reply = this.#expect(multiline);
    this.#socket.write(`${text}\r\n`);
    return reply;
  }

  /** QUIT, then close our side once the server answered. Returns the status line. */
  async quit() {
    const { line } = await this.command("QUIT");
    this.close();
    return line;
  }

  close() {
    this.#pending = undefined;
    clearTimeout(this.#timer);
    this.#socket.destroy();
  }

  #expect(multiline) {
    if (this.#error !== undefined) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      this.#pending = { multiline, resolve, reject };
      // A new timer per reply would cost as much as a 10 KB RETR: one timer, refreshed. It
      // only fires on a reply overdue; an idle session (nothing pending) ignores it.
      if (this.#timer === undefined) {
        this.#timer = setTimeout(() => {
          if (this.#pending !== undefined) this.#fail(new Error("no reply in time"));
        }, REPLY_TIMEOUT_MS);
        this.#timer.unref();
      } else {
        this.#timer.refresh();
      }
    });
  }

  #fail(error) {
    this.#error ??= error;
    clearTimeout(this.#timer);
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(error);
    this.#socket.destroy();
  }

  #onData(chunk) {
    if (this.#decoder !== undefined) {
      const rest = this.#body(chunk);
      if (rest === undefined || rest.length === 0) return;
      chunk = rest;
    }
    this.#reader.push(chunk);
    this.#lines();
  }

  #lines() {
    for (;;) {
      const line = this.#reader.readLine();
      if (line === undefined) return;
      const pending = this.#pending;
      if (pending === undefined) {
        this.#fail(new Error("a reply nobody asked for"));
        return;
      }
      if (line === LINE_TOO_LONG) {
        this.#fail(new Error("status line too long"));
        return;
      }
      const text = latin1.decode(line);
      if (!text.startsWith("+OK")) {
        this.#pending = undefined;
        pending.reject(new Error(`${text}`));
        continue;
      }
      if (!pending.multiline) {
        this.#pending = undefined;
        pending.resolve({ line: text, octets: 0 });
        continue;
      }
      this.#decoder = new MultilineDecoder();
      this.#octets = 0;
      pending.line = text;
      const rest = this.#body(this.#reader.takeRest());
      if (rest === undefined) return;
      this.#reader.push(rest);
    }
  }

  /** Feeds the body decoder; returns the bytes after the terminator once it is found. */
  #body(chunk) {
    const result = this.#decoder.push(chunk);
    for (const piece of result.data) this.#octets += piece.length;
    if (!result.done) return undefined;
    this.#decoder = undefined;
    const pending = this.#pending;
    this.#pending = undefined;
    pending.resolve({ line: pending.line, octets: this.#octets });
    return result.rest;
  }
}

/**
 * One full session (see the header for the workloads); returns the octets retrieved and the
 * messages deleted.
 */
async function fullSession(target, user, password, workload) {
  const c = await Pop3Connection.open(target);
  try {
    await c.command(`USER ${user}`);
    await c.command(`PASS ${password}`);
    const stat = (await c.command("STAT")).line.split(" ");
    const count = Number(stat[1]);
    const size = Number(stat[2]);
    await c.command("UIDL", true);
    await c.command("LIST", true);
    let octets = 0;
    for (let msg = 1; msg <= count; msg++) octets += (await c.command(`RETR ${msg}`, true)).octets;
    if (octets !== size) throw new Error(`retrieved ${octets} octets, STAT said ${size}`);
    let deleted = 0;
    if (workload === "delete") {
      for (let msg = 1; msg <= count; msg += 2) {
        await c.command(`DELE ${msg}`);
        deleted += 1;
      }
    }
    const bye = await c.quit();
    if (!bye.startsWith("+OK")) throw new Error(`QUIT: ${bye}`);
    return { octets, deleted };
  } catch (error) {
    c.close();
    throw error;
  }
}

const quantile = (values, q = 0.5) => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};

const target = (job, i) => {
  const locals = job.localAddresses ?? [];
  return {
    host: job.host,
    port: job.port,
    tls: job.tls,
    localAddress: locals.length > 0 ? locals[i % locals.length] : undefined,
  };
};

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function sessions(job) {
  const { users, concurrency, warmupMs, durationMs, workload = "read" } = job;
  const staggerMs = job.staggerMs ?? warmupMs / 2;
  const start = performance.now();
  const windowStart = start + warmupMs;
  const windowEnd = windowStart + durationMs;
  let counted = 0;
  let whole = 0;
  let octets = 0;
  let errors = 0;
  let firstError;
  const latencies = [];
  const worker = async (i) => {
    const [user, password] = users[i % users.length];
    await pause((staggerMs * i) / concurrency);
    while (performance.now() < windowEnd) {
      const began = performance.now();
      try {
        const got = await fullSession(target(job, i), user, password, workload);
        const ended = performance.now();
        // The part of this session inside the window: sessions straddling an edge count for
        // their share, so the figure is not a whole number of sessions per worker.
        const inside = Math.min(ended, windowEnd) - Math.max(began, windowStart);
        if (inside > 0) {
          const share = ended > began ? inside / (ended - began) : 1;
          counted += share;
          octets += got.octets * share;
        }
        if (ended >= windowStart && ended <= windowEnd) {
          whole += 1;
          latencies.push(ended - began);
        }
      } catch (error) {
        errors += 1;
        firstError ??= error instanceof Error ? error.message : String(error);
        await pause(50);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)));
  return {
    sessions: counted,
    whole,
    seconds: durationMs / 1000,
    octets,
    errors,
    firstError,
    latencyMs: { median: quantile(latencies), p90: quantile(latencies, 0.9) },
  };
}

async function batch(job) {
  const { users, concurrency, workload = "read" } = job;
  const start = performance.now();
  let next = 0;
  let done = 0;
  let octets = 0;
  let deleted = 0;
  let errors = 0;
  let firstError;
  const latencies = [];
  const worker = async (i) => {
    while (next < users.length) {
      const [user, password] = users[next++];
      const began = performance.now();
      try {
        const got = await fullSession(target(job, i), user, password, workload);
        latencies.push(performance.now() - began);
        done += 1;
        octets += got.octets;
        deleted += got.deleted;
      } catch (error) {
        errors += 1;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(concurrency, users.length) }, (_, i) => worker(i)),
  );
  return {
    sessions: done,
    seconds: (performance.now() - start) / 1000,
    octets,
    deleted,
    errors,
    firstError,
    latencyMs: { median: quantile(latencies), p90: quantile(latencies, 0.9) },
  };
}

async function retr(job) {
  const { user, password, msg } = job;
  const c = await Pop3Connection.open(target(job, 0));
  try {
    await c.command(`USER ${user}`);
    await c.command(`PASS ${password}`);
    await c.command("STAT");
    const start = performance.now();
    const { octets } = await c.command(`RETR ${msg}`, true);
    const seconds = (performance.now() - start) / 1000;
    await c.quit();
    return { seconds, octets };
  } catch (error) {
    c.close();
    throw error;
  }
}

let idle = [];

async function openIdle(job) {
  const { users, count, parallel } = job;
  const start = performance.now();
  let next = 0;
  let errors = 0;
  let firstError;
  const opener = async () => {
    while (next < count) {
      const i = next++;
      const [user, password] = users[i % users.length];
      try {
        const c = await Pop3Connection.open(target(job, i));
        idle.push(c);
        await c.command(`USER ${user}`);
        await c.command(`PASS ${password}`);
      } catch (error) {
        errors += 1;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, opener));
  return { open: count - errors, seconds: (performance.now() - start) / 1000, errors, firstError };
}

function closeIdle() {
  const closed = idle.length;
  for (const c of idle) c.close();
  idle = [];
  return { closed };
}

const jobs = { sessions, batch, retr, idle: openIdle, close: closeIdle };

process.on("disconnect", () => process.exit(0));
process.on("message", async (job) => {
  try {
    const run = jobs[job.type];
    if (run === undefined) throw new Error(`unknown job ${job.type}`);
    negotiated = undefined;
    const cpu = process.cpuUsage();
    const answer = await run(job);
    const used = process.cpuUsage(cpu);
    process.send({
      ...answer,
      cpuSeconds: (used.user + used.system) / 1e6,
      ...(negotiated ? { tls: negotiated } : {}),
    });
  } catch (error) {
    process.send({ error: error instanceof Error ? error.message : String(error) });
  }
});
process.send({ ready: true });
