// Markdown of the server bench (server.bench.mjs's JSON): its sections and its rows of the
// targets table, every figure next to its ratio against Dovecot measured in the same run.
// report.mjs puts them into docs/BENCHMARKS.md; server.bench.mjs prints the sections.
import { syscallTables } from "./syscalls.mjs";

const MB = 1e6;
const KB = 1000;
const finite = (n) => typeof n === "number" && Number.isFinite(n);
const fmt = (n, digits = 0) => (finite(n) ? n.toFixed(digits) : "n/a");
const ratio = (a, b, digits = 2) =>
  finite(a) && finite(b) && b !== 0 ? `${(a / b).toFixed(digits)}x` : "n/a";
const kb = (bytes, digits = 1) => (finite(bytes) ? `${(bytes / KB).toFixed(digits)} KB` : "n/a");
const mb = (bytes, digits = 1) => (finite(bytes) ? `${(bytes / MB).toFixed(digits)} MB` : "n/a");
const table = (head, align, rows) =>
  [
    `| ${head.join(" | ")} |`,
    `| ${align.join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
export const verdict = (value, target, higherIsBetter = true) => {
  if (!finite(value)) return "not measured";
  return (higherIsBetter ? value >= target : value <= target) ? "met" : "**NOT met**";
};
const spread = (runs = []) =>
  runs.length > 1
    ? `${fmt(Math.min(...runs))}–${fmt(Math.max(...runs))}`
    : runs.length === 1
      ? fmt(runs[0])
      : "n/a";
const find = (rows, key) => rows.find((r) => r.key === key);
const rate = (rows, key, c) => find(rows, key)?.levels?.[c]?.median;
const nameOf = (s) =>
  s.error && !Object.values(s.levels ?? {}).some((l) => finite(l?.median))
    ? `${s.name} (n/a: ${s.error})`
    : s.name;

/** A sessions/s table: per level the median, its spread, and the ratios to both Dovecots. */
function ratesTable(rows, levels, { extra } = {}) {
  const head = ["server"];
  const align = ["---"];
  for (const c of levels) {
    head.push(`c=${c}: sessions/s`, "runs min–max", "÷ Dovecot HP", "÷ Dovecot stock");
    align.push("---:", "---:", "---:", "---:");
  }
  if (extra) {
    head.push(extra.head);
    align.push("---:");
  }
  const body = rows.map((s) => {
    const row = [nameOf(s)];
    for (const c of levels) {
      const l = s.levels?.[c];
      if (l === undefined) {
        row.push("—", "", "", "");
        continue;
      }
      const failed = l.errors > 0 ? ` (${l.errors} failed)` : "";
      row.push(
        `${fmt(l.median, 1)}${failed}`,
        spread(l.runs),
        ratio(l.median, rate(rows, "dovecot-hp", c)),
        ratio(l.median, rate(rows, "dovecot", c)),
      );
    }
    if (extra) row.push(extra.cell(s));
    return row;
  });
  return table(head, align, body);
}

function cpuTable(rows, levels) {
  const body = rows
    .filter((s) => levels.some((c) => finite(s.levels?.[c]?.serverCores)))
    .map((s) => [
      s.name,
      ...levels.map((c) => {
        const l = s.levels?.[c];
        return l === undefined
          ? "—"
          : `${fmt(l.serverCores, 2)} / ${fmt(l.loadgenCores, 2)} / ${fmt(l.machineCores, 2)}`;
      }),
    ]);
  return table(
    ["server", ...levels.map((c) => `c=${c}: server / load gen / machine`)],
    ["---", ...levels.map(() => "---:")],
    body,
  );
}

const errorLines = (rows) =>
  rows
    .flatMap((s) => Object.entries(s.levels ?? {}).map(([c, l]) => [s, c, l]))
    .filter(([, , l]) => l?.errors > 0)
    .map(
      ([s, c, l]) => `- ${s.name} at c=${c}: ${l.errors} session(s) failed, first: ${l.firstError}`,
    );

function sessionsSection(server) {
  const { config } = server;
  const rows = server.sessions;
  const single = rows.filter((s) => !(s.workers > 1));
  const scaling = rows.filter((s) => s.key === "maildir" || s.workers > 1);
  const scaleLevels = config.levels.filter((c) => c > 1);
  const scalingRows = scaling.flatMap((s) =>
    scaleLevels
      .filter((c) => s.levels?.[c] !== undefined)
      .map((c) => {
        const l = s.levels[c];
        return [
          `${s.workers ?? 1}`,
          `${c}`,
          fmt(l.median, 1),
          ratio(l.median, rate(rows, "maildir", c)),
          ratio(l.median, rate(rows, "dovecot-hp", c)),
          `${fmt(l.serverCores, 2)} / ${fmt(l.loadgenCores, 2)} / ${fmt(l.machineCores, 2)}`,
        ];
      }),
  );
  return [
    "## Server sessions/s",
    "",
    `Full sessions back to back on each connection: \`USER\`, \`PASS\`, \`STAT\`, \`UIDL\`, \`LIST\`, \`RETR\` of each of the ${config.sessionMessages} messages of ${fmt(config.sessionMessageBytes / KB, 0)} KB (realistic mail: 76-character CRLF lines, a dot-stuffed line in 40, base64), \`QUIT\`; no \`DELE\`, so the mailboxes never change. One command at a time (no pipelining). Worker *i* logs in as \`bench<i>\`; every server has the same bytes for every user. Load generator: \`bench/loadgen.mjs\` (one Node process, raw sockets, pop3-core's \`LineReader\` and \`MultilineDecoder\`), connecting from 127.0.0.1 only: our server runs with ${config.limits}. Its workers start staggered over half the warm-up, and a session counts for the part of it inside the ${fmt(config.windowSeconds, 1)} s window (after ${fmt(config.warmupSeconds, 1)} s of warm-up), so the figures are not whole sessions per worker. Median of ${config.sessionRuns} run(s), servers interleaved, the order rotating each run; "runs min–max" is the spread. Dovecot HP is its high-performance mode (the anchor of the targets), stock its default process model (see "Dovecot configuration" below).`,
    "",
    ratesTable(single, config.levels, {
      extra: {
        head: `session time at c=${config.levels[0]}`,
        cell: (s) => {
          const l = s.levels?.[config.levels[0]];
          return finite(l?.latencyMs) ? `${l.latencyMs.toFixed(1)} ms` : "n/a";
        },
      },
    }),
    "",
    `CPU in cores (medians over each whole job: warm-up, window and tail) — the server (ours: its process, or the primary and its workers; Dovecot: its whole process tree) / the load generator / the whole machine (${config.cpus ?? "?"} CPUs; what the other two do not explain is the kernel's loopback work and any other process on the machine):`,
    "",
    cpuTable(rows, config.levels),
    ...(scalingRows.length > 0
      ? [
          "",
          `### MaildirStore in several processes (\`serveInWorkers\`)`,
          "",
          `The same sessions with the MaildirStore server run by pop3-server's \`serveInWorkers\` (node:cluster: a primary and N workers sharing the listener, a MaildirStore each, the \`pop3.lock\` file across them) on this ${config.cpus}-CPU machine, where the load generator needs a share of the CPUs too (its column). Dovecot high-performance mode uses a process per concurrent session (\`client_limit = 1\` for pop3) plus two \`pop3-login\` processes, so every row here has fewer processes than Dovecot at the same concurrency.`,
          "",
          table(
            [
              "workers",
              "concurrency",
              "sessions/s",
              "÷ 1 process",
              "÷ Dovecot HP",
              "cores: server / load gen / machine",
            ],
            ["---:", "---:", "---:", "---:", "---:", "---:"],
            scalingRows,
          ),
          "",
          `Runs (sessions/s): ${scaling
            .map(
              (s) =>
                `${s.workers ?? 1} worker(s): ${scaleLevels
                  .filter((c) => s.levels?.[c] !== undefined)
                  .map(
                    (c) => `c=${c} ${(s.levels[c].runs ?? []).map((v) => v.toFixed(0)).join("/")}`,
                  )
                  .join("; ")}`,
            )
            .join(" · ")}.`,
        ]
      : []),
    ...(errorLines(rows).length > 0 ? ["", ...errorLines(rows)] : []),
  ].join("\n");
}

function deleteSection(server) {
  const { config } = server;
  if (server.deletes.length === 0) return "";
  return [
    "## Server delete workload",
    "",
    `Each session: \`USER\`, \`PASS\`, \`STAT\`, \`UIDL\`, \`LIST\`, \`RETR\` of each message, \`DELE\` of every second one, \`QUIT\` (UPDATE: our MaildirStore unlinks and fsyncs \`cur/\` before it answers; Dovecot with its default \`mail_fsync = optimized\`). ${config.deleteUsers} mailboxes of ${config.deleteMessages} × ${fmt(config.sessionMessageBytes / KB, 0)} KB, one session each per batch, \`concurrency\` at a time; before every batch each mailbox is topped up to ${config.deleteMessages} messages as an MTA delivers (into \`new/\`; not timed), so each session finds half its mail old and half new. Sessions/s = sessions of the batch ÷ its duration; median of ${config.sessionRuns} run(s) after a warm-up batch.`,
    "",
    ratesTable(server.deletes, config.deleteLevels),
    "",
    cpuTable(server.deletes, config.deleteLevels),
    ...(errorLines(server.deletes).length > 0 ? ["", ...errorLines(server.deletes)] : []),
  ].join("\n");
}

function tlsSection(server) {
  const { config } = server;
  if (server.tls.length === 0) return "";
  const c = config.tlsLevel;
  const negotiated = server.tls
    .filter((s) => s.levels?.[c]?.tls)
    .map((s) => `${s.name}: ${s.levels[c].tls.protocol}, ${s.levels[c].tls.cipher}`);
  return [
    "## Server sessions/s over implicit TLS",
    "",
    `The sessions workload at concurrency ${c} on the implicit-TLS port (pop3s), a full handshake per session (no resumption). Dovecot terminates TLS in its own \`pop3-login\` processes. Both present a self-signed RSA 2048 certificate (Dovecot's from \`dovecot.sh\`, the same files given to ours). Negotiated: ${negotiated.join("; ") || "n/a"}.`,
    "",
    ratesTable(server.tls, [c]),
    "",
    cpuTable(server.tls, [c]),
    ...(errorLines(server.tls).length > 0 ? ["", ...errorLines(server.tls)] : []),
  ].join("\n");
}

function retrSection(server) {
  const hp = find(server.retr, "dovecot-hp");
  const ceiling = find(server.retr, "ceiling");
  const rows = server.retr.map((s) => [
    s.error && !finite(s.median) ? `${s.name} (n/a: ${s.error})` : s.name,
    fmt(s.median, 0),
    s.runs.length > 0 ? `${fmt(Math.min(...s.runs))}–${fmt(Math.max(...s.runs))}` : "n/a",
    ratio(s.median, hp?.median),
    ratio(s.median, ceiling?.median),
  ]);
  return [
    "## Server RETR throughput",
    "",
    `One message of ${mb(server.config.retrBytes)} (the same realistic mail), \`RETR 1\` timed from the command to the terminator, read by the same raw-socket reader (\`loadgen.mjs\`: unstuffed by \`MultilineDecoder\`, octets checked). The ceiling is a plain Node socket server (\`ceiling-child.mjs\`) writing the pre-encoded answer in one \`socket.write\`. Median of ${server.config.runs} run(s) after a warm-up.`,
    "",
    table(
      ["server", "MB/s", "min–max", "÷ Dovecot HP", "÷ ceiling"],
      ["---", "---:", "---:", "---:", "---:"],
      rows,
    ),
  ].join("\n");
}

function memorySection(server) {
  const m = server.memory;
  const dovecotPss = m.dovecot?.pssPerSession;
  const dovecotTlsPss = m.dovecotTls?.pssPerSession;
  const ourRow = (label, r, peer) =>
    r?.error || r === undefined
      ? [label, `n/a: ${r?.error ?? "not run"}`, "", "", "", "", ""]
      : [
          label,
          fmt(r.sessions),
          kb(r.rssPerSession),
          kb(r.pssPerSession),
          kb(r.heapPerSession),
          kb(r.externalPerSession),
          ratio(r.pssPerSession, peer, 3),
        ];
  const dovecotRow = (label, r) =>
    r?.error || r === undefined
      ? [label, `n/a: ${r?.error ?? "not run"}`, "", "", "", "", ""]
      : [label, fmt(r.sessions), kb(r.rssPerSession), kb(r.pssPerSession), "—", "—", "1.000x"];
  const notes = [];
  for (const [label, r] of [
    ["Ours, plain", m.ours],
    ["Ours, TLS", m.oursTls],
  ]) {
    if (r?.before && r.after) {
      notes.push(
        `${label}: RSS ${mb(r.before.rss)} → ${mb(r.after.rss)}, heap used ${mb(r.before.heapUsed)} → ${mb(r.after.heapUsed)} with ${fmt(r.sessions)} sessions open (${fmt(r.loggedIn)} logged in, opened in ${fmt(r.openSeconds, 1)} s${r.errors ? `, ${r.errors} failed: ${r.firstError}` : ""}).`,
      );
    }
  }
  for (const [label, r] of [
    ["Dovecot HP, plain", m.dovecot],
    ["Dovecot HP, TLS", m.dovecotTls],
  ]) {
    if (r?.processes) {
      notes.push(
        `${label}: ${r.processes.before} → ${r.processes.after} processes (${Object.entries(
          r.processes.byName,
        )
          .map(([name, n]) => `${n} ${name}`)
          .join(", ")})${r.errors ? `; ${r.errors} sessions failed: ${r.firstError}` : ""}.`,
      );
    }
  }
  return [
    "## Server memory per idle session",
    "",
    `Sessions logged in (\`USER\`/\`PASS\`, a maildrop of one 1 KB message each, users \`idle1\`…) and left idle, in plain text and over implicit TLS. Ours (MemoryStore, one process): growth of the server process over its baseline (after one session and a full \`gc()\`), divided by the sessions; RSS and heap from \`process.memoryUsage()\`, PSS from \`/proc/<pid>/smaps_rollup\`. Dovecot (high-performance mode: a \`pop3\` process per session, TLS kept by \`pop3-login\`): PSS (and RSS, which counts shared pages once per process) summed over its whole process tree, before and after. Kernel socket buffers are not in either figure.`,
    "",
    table(
      [
        "server",
        "idle sessions",
        "RSS / session",
        "PSS / session",
        "JS heap / session",
        "external / session",
        "PSS ÷ Dovecot's",
      ],
      ["---", "---:", "---:", "---:", "---:", "---:", "---:"],
      [
        ourRow("pop3-server, plain", m.ours, dovecotPss),
        ourRow("pop3-server, implicit TLS", m.oursTls, dovecotTlsPss),
        dovecotRow("Dovecot HP, plain", m.dovecot),
        dovecotRow("Dovecot HP, implicit TLS", m.dovecotTls),
      ],
    ),
    "",
    ...notes.map((n) => `- ${n}`),
  ].join("\n");
}

function syscallsSection(server) {
  if (server.syscalls === undefined) return "";
  return [
    "## System calls and CPU per session",
    "",
    "The sessions workload one session at a time (`bench/syscalls.mjs`): CPU time per session (ours: the server process; Dovecot: its whole process tree), then `strace -c -f` on the server (ours: every thread; Dovecot: the master and all its processes, forked ones followed) — counts, not times (strace slows everything down). These depend far less on other load on the machine than sessions/s.",
    "",
    syscallTables(server.syscalls),
  ].join("\n");
}

function dovecotSection(server) {
  const entries = Object.entries(server.dovecot ?? {});
  if (entries.length === 0) return "";
  const hp = server.dovecot["dovecot-hp"];
  const stock = server.dovecot.dovecot;
  return [
    "## Dovecot configuration",
    "",
    `Two private instances of \`scripts/dovecot/dovecot.sh\`, each with its own runtime directory, ports and Maildirs, seeded with the same bytes as ours (mail files owned by the mail uid 65534, as Dovecot's mail processes run). ${
      stock?.available
        ? `Stock: ${stock.version}, port ${stock.port} (pop3s ${stock.port + 1}), \`DOVECOT_MODE=stock\`: Dovecot's default high-security process model (\`service_count = 1\`: a new \`pop3-login\` and a new \`pop3\` process per connection), \`auth_verbose = yes\`, login and logout lines logged.`
        : `Stock: n/a (${stock?.error ?? "not run"}).`
    } ${
      hp?.available
        ? `High-performance: ${hp.version}, port ${hp.port} (pop3s ${hp.port + 1}), \`DOVECOT_MODE=performance\`: \`service_count = 0\` and \`process_min_avail\` = the CPUs for \`pop3-login\` and \`pop3\`, \`info_log_path = /dev/null\`, \`auth_verbose = no\` — its whole configuration (\`doveconf -n\`):`
        : `High-performance: n/a (${hp?.error ?? "not run"}).`
    } Both keep Dovecot's defaults for everything else: \`mail_fsync = optimized\`, \`pop3_no_flag_updates = no\` (\\Seen is set by renaming the file after RETR), no \`maildir_very_dirty_syncs\`.`,
    ...(hp?.available
      ? [
          "",
          "<details><summary>doveconf -n (high-performance instance)</summary>",
          "",
          "```",
          hp.config.trim(),
          "```",
          "",
          "</details>",
        ]
      : []),
  ].join("\n");
}

/** The server sections (Markdown). */
export function serverSections(server) {
  return [
    dovecotSection(server),
    sessionsSection(server),
    deleteSection(server),
    tlsSection(server),
    retrSection(server),
    memorySection(server),
    syscallsSection(server),
  ]
    .filter(Boolean)
    .join("\n\n");
}

/** The issue's server targets, each with the measured ratio: [figure, target, measured, verdict]. */
export function targetRows(server) {
  const rows = [];
  const { levels } = server.config;
  const low = Math.min(...levels);
  const high = Math.max(...levels);
  const s = server.sessions;
  const add = (figure, target, value, goal, note = "") =>
    rows.push([figure, target, `${ratio(value, 1)}${note}`, verdict(value, goal)]);
  add(
    `MaildirStore sessions/s at c=${low} (1 process)`,
    "≥ 1.3x Dovecot HP",
    rate(s, "maildir", low) / rate(s, "dovecot-hp", low),
    1.3,
  );
  // At the highest concurrency: the best MaildirStore row; all have fewer processes than
  // Dovecot's one per session.
  const best = s
    .filter((x) => x.key === "maildir" || x.workers > 1)
    .map((x) => ({ x, v: x.levels?.[high]?.median }))
    .filter(({ v }) => finite(v))
    .sort((a, b) => b.v - a.v)[0];
  add(
    `MaildirStore sessions/s at c=${high}${best ? ` (${best.x.workers ?? 1} worker process(es), the best row)` : ""}`,
    "≥ 1.5x Dovecot HP, no more processes",
    (best?.v ?? Number.NaN) / rate(s, "dovecot-hp", high),
    1.5,
  );
  for (const c of server.config.deleteLevels ?? []) {
    if (server.deletes.length === 0) break;
    add(
      `delete workload sessions/s at c=${c}, MaildirStore (fsync kept)`,
      "≥ 1.2x Dovecot HP",
      rate(server.deletes, "maildir", c) / rate(server.deletes, "dovecot-hp", c),
      1.2,
    );
  }
  if (server.tls.length > 0) {
    const c = server.config.tlsLevel;
    add(
      `implicit TLS sessions/s at c=${c}, MaildirStore`,
      "≥ 1.2x Dovecot HP",
      rate(server.tls, "maildir", c) / rate(server.tls, "dovecot-hp", c),
      1.2,
    );
  }
  const two = find(s, "maildir-w2");
  if (two !== undefined) {
    const l = two.levels?.[high];
    add(
      `MaildirStore, 2 workers ÷ 1 process, c=${high}`,
      "≥ 1.6x",
      (l?.median ?? Number.NaN) / rate(s, "maildir", high),
      1.6,
      finite(l?.loadgenCores)
        ? ` (load generator: ${l.loadgenCores.toFixed(2)} of ${server.config.cpus} CPUs)`
        : "",
    );
  }
  for (const [c, goal] of [
    [high, 1.5],
    [low, 1.0],
  ]) {
    add(
      `MemoryStore sessions/s at c=${c}`,
      `≥ ${goal.toFixed(1)}x Dovecot HP`,
      rate(s, "memory", c) / rate(s, "dovecot-hp", c),
      goal,
    );
  }
  const hpRetr = find(server.retr, "dovecot-hp")?.median;
  const ceiling = find(server.retr, "ceiling")?.median;
  for (const key of ["maildir", "memory"]) {
    const r = find(server.retr, key);
    if (r === undefined) continue;
    add(
      `RETR MB/s of one ${fmt(server.config.retrBytes / MB)} MB message, ${r.name}`,
      "≥ 0.5x ceiling",
      r.median / ceiling,
      0.5,
    );
    add(`RETR MB/s, ${r.name}`, "≥ 1.0x Dovecot HP", r.median / hpRetr, 1.0);
  }
  const ours = server.memory.ours ?? {};
  rows.push([
    "memory per idle session (RSS), pop3-server",
    "≤ 20 KB",
    kb(ours.rssPerSession),
    verdict(ours.rssPerSession, 20 * KB, false),
  ]);
  return rows;
}

/**
 * Why a missed server target was missed and what would meet it: figures from this run (the CPU
 * per session and the syscalls of the "syscalls" phase, the CPU columns) and the profile.
 */
export function missedTargetNotes(server, rows) {
  const notes = [];
  const missed = (prefix) => rows.some((r) => r[0].startsWith(prefix) && r[3] === "**NOT met**");
  const sys = server.syscalls?.servers ?? [];
  const ours = sys.find((x) => x.key === "maildir");
  const hp = sys.find((x) => x.key === "dovecot-hp");
  const cpu =
    ours && hp
      ? ` In this run a session cost our server ${fmt(ours.cpuMsPerSession, 2)} ms of CPU and ${fmt(ours.totalSyscalls)} system calls, Dovecot HP ${fmt(hp.cpuMsPerSession, 2)} ms and ${fmt(hp.totalSyscalls)} (its processes together); the load generator ${fmt(ours.loadgenCpuMsPerSession, 2)} ms per session.`
      : "";
  const low = Math.min(...server.config.levels);
  if (
    missed(`MaildirStore sessions/s at c=${low} `) ||
    missed(`MemoryStore sessions/s at c=${low}`)
  ) {
    notes.push(
      `**Sessions/s at c=1.** At concurrency 1 a session is a chain of some ${server.config.sessionMessages + 6} request/response round trips, each waking the server and the load generator in turn, so the figure is their latency added up, not a throughput.${cpu} The MaildirStore's own part is small (one \`open\`, \`read\`, \`close\` per message, no listing or \`stat\` of an unchanged Maildir) and a small message's RETR is one synchronous step (status line, body and terminator in one \`writev\`, one \`AbortController\` per session). A CPU profile of this workload (\`node --cpu-prof\`, BENCH_SERVER_EXEC_ARGV) puts half of the server's busy time in those four system calls, one each per message — \`writev\` 28 %, \`read\` 12 %, \`open\` 8 %, \`close\` 4 % — then GC 8 %, the encoder's copy of a message with a stuffed dot 3 % and its scan 2 % (it passes over CRLF lines four bytes at a time, see Codec); \`perf\` shows the kernel's page faults and context switches (\`pvm_irq_enable\` on this virtual machine) inside them. Our server already spends less CPU and far fewer system calls per session than Dovecot HP (figures above); what is left is the latency of a kernel entry per message on this machine, which a client that waits for each answer pays in full. What would meet it: fewer kernel entries per message — a pipelining client gets several answers per \`writev\` already, and the load generator, like most clients, does not pipeline; reading the next message while the client reads this one (a read-ahead of one small message on the thread pool) would take \`open\`/\`read\`/\`close\` out of the round trip at the cost of a read for clients that stop early.`,
    );
  }
  if (missed(`MaildirStore sessions/s at c=${Math.max(...server.config.levels)}`)) {
    notes.push(
      `**Sessions/s at high concurrency.** With several sessions in flight the figure is CPU per session on a machine whose CPUs the load generator shares (see its column): one process of ours uses at most one core while Dovecot spreads over all of them; \`serveInWorkers\` closes that gap only as far as the load generator leaves cores free.${cpu} What would meet it: less CPU per session, or a load generator on another machine so that the workers get the cores.`,
    );
  }
  if (missed("delete workload")) {
    notes.push(
      "**Delete workload.** Each session re-lists `cur/` and `new/` (both changed since the last session), reads every new message once to size it (Dovecot does the same to compute its virtual sizes), unlinks half the messages and waits for one `fsync` of `cur/` on the disk before it answers `QUIT`; Dovecot (`mail_fsync = optimized`) `fdatasync`s its `dovecot-uidlist` (twice per session, seen with strace) but not `cur/` after its unlinks. A profile puts the read that sizes new mail at about 10 % of the server's CPU in this workload and the rewrite of `pop3-sizes.json` (so that a restarted or other worker process need not read again) at about 5 %. What would meet it: the fsync stays (deletions only once durable); mail delivered by our own `deliver()` or by an MDA that writes Dovecot's `,W=` is sized from its name without a read (the load generator delivers plain names, as most MTAs do), and the size cache could be written after the answer instead of before it.",
    );
  }
  if (missed("implicit TLS")) {
    notes.push(
      "**Implicit TLS.** A full RSA 2048 handshake per session costs the same in both servers (OpenSSL underneath), and Node's TLS socket adds a copy and a JavaScript round trip per record written; Dovecot spreads handshakes over its `pop3-login` processes on every CPU while one process of ours does them all. What would meet it: `serveInWorkers` for TLS too (the handshakes then use every core), ECDSA certificates, and TLS session tickets for returning clients.",
    );
  }
  if (missed("MaildirStore, 2 workers")) {
    notes.push(
      "**Two workers.** On a 2-CPU machine the load generator (its cores are in the table) and the kernel's loopback work take a large part of the two CPUs, so a second worker process has less than a core to itself; the ratio says how much of the machine was left, not how the server scales. On a machine with spare cores, or with the load generator elsewhere, each worker gets its own core.",
    );
  }
  if (missed("RETR MB/s of one")) {
    const memory = find(server.retr, "memory")?.median;
    const ceiling = find(server.retr, "ceiling")?.median;
    notes.push(
      `**RETR of a large message from Maildir.** The ceiling writes a pre-encoded buffer in one \`socket.write\`; our server streams the message through pop3-core's encoder, which looks at every byte, four at a time, for line ends and leading dots (see Codec): the MemoryStore, which reads no file at all, reaches ${ratio(memory, ceiling)} of the ceiling in this run, so the encoder and the writes, not the Maildir store, set the bound (the store adds one read of 256 KiB per four 64 KiB chunks from the page cache). What would meet it: a scanner that takes 16 bytes per instruction (WebAssembly SIMD), or remembering per file that it needs no stuffing (CRLF only, no leading dot: one scan at delivery or first read) so that its chunks go to the socket unscanned.`,
    );
  }
  return notes;
}
