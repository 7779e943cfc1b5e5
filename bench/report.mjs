// Markdown for the benchmark report (docs/BENCHMARKS.md, written by run.mjs) and for the tables
// server.bench.mjs prints: every figure next to its ratio against the peer measured in the same run.

import { importCostSection } from "./import-cost.mjs";

const MB = 1e6;
const KB = 1000;

const finite = (n) => typeof n === "number" && Number.isFinite(n);
export const fmt = (n, digits = 0) => (finite(n) ? n.toFixed(digits) : "n/a");
export const ratio = (a, b, digits = 2) =>
  finite(a) && finite(b) && b !== 0 ? `${(a / b).toFixed(digits)}x` : "n/a";
const kb = (bytes, digits = 1) => (finite(bytes) ? `${(bytes / KB).toFixed(digits)} KB` : "n/a");
const mb = (bytes, digits = 1) => (finite(bytes) ? `${(bytes / MB).toFixed(digits)} MB` : "n/a");
const table = (head, align, rows) =>
  [
    `| ${head.join(" | ")} |`,
    `| ${align.join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
const verdict = (value, target, higherIsBetter = true) => {
  if (!finite(value)) return "not measured";
  return (higherIsBetter ? value >= target : value <= target) ? "met" : "**NOT met**";
};

// ---- server ----

function sessionsSection(server) {
  const { config } = server;
  const dovecot = server.sessions.find((s) => s.key === "dovecot");
  const head = ["server"];
  const align = ["---"];
  for (const c of config.levels) {
    head.push(`c=${c}: sessions/s`, "÷ Dovecot");
    align.push("---:", "---:");
  }
  head.push(`session time at c=${config.levels[0]} (median)`);
  align.push("---:");
  const rows = server.sessions.map((s) => {
    const row = [
      s.error && !finite(s.levels[config.levels[0]]?.median)
        ? `${s.name} (n/a: ${s.error})`
        : s.name,
    ];
    for (const c of config.levels) {
      const value = s.levels[c]?.median;
      const errors = s.levels[c]?.errors ?? 0;
      row.push(
        `${fmt(value, 1)}${errors > 0 ? ` (${errors} failed)` : ""}`,
        ratio(value, dovecot?.levels[c]?.median),
      );
    }
    row.push(
      finite(s.levels[config.levels[0]]?.latencyMs)
        ? `${s.levels[config.levels[0]].latencyMs.toFixed(1)} ms`
        : "n/a",
    );
    return row;
  });
  const cpuRows = server.sessions
    .filter((s) => config.levels.some((c) => finite(s.levels[c]?.serverCores)))
    .map((s) => [
      s.name,
      ...config.levels.map((c) => {
        const l = s.levels[c] ?? {};
        return `${fmt(l.serverCores, 2)} / ${fmt(l.loadgenCores, 2)} / ${fmt(l.machineCores, 2)}`;
      }),
    ]);
  const runs = server.sessions
    .filter((s) => config.levels.some((c) => (s.levels[c]?.runs ?? []).length > 0))
    .map(
      (s) =>
        `${s.name}: ${config.levels.map((c) => `c=${c} ${(s.levels[c]?.runs ?? []).map((v) => v.toFixed(0)).join("/")}`).join("; ")}`,
    );
  const errors = server.sessions
    .flatMap((s) => config.levels.map((c) => [s, c, s.levels[c]]))
    .filter(([, , l]) => l?.errors > 0)
    .map(
      ([s, c, l]) => `${s.name} at c=${c}: ${l.errors} session(s) failed, first: ${l.firstError}`,
    );
  return [
    "## Server sessions/s",
    "",
    `Full sessions back to back on each connection: \`USER\`, \`PASS\`, \`STAT\`, \`UIDL\`, \`LIST\`, \`RETR\` of each of the ${config.sessionMessages} messages of ${fmt(config.sessionMessageBytes / KB, 0)} KB (realistic mail: 76-character CRLF lines, a dot-stuffed line in 40, base64), \`QUIT\`; no \`DELE\`, so the mailboxes never change. One command at a time (no pipelining). Worker *i* logs in as \`bench<i>\`; every server has the same bytes for every user. Load generator: \`bench/loadgen.mjs\` (one Node process, raw sockets, pop3-core's \`LineReader\` and \`MultilineDecoder\`). Sessions ending within a ${fmt(config.windowSeconds, 1)} s window after ${fmt(config.warmupSeconds, 1)} s of warm-up are counted; median of ${config.runs} run(s), servers interleaved.`,
    "",
    table(head, align, rows),
    "",
    `Runs (sessions/s): ${runs.join(" · ") || "none"}.`,
    ...(cpuRows.length > 0
      ? [
          "",
          `CPU in cores (medians over each whole job: warm-up, window and tail) — the server (ours: its one process; Dovecot: its whole process tree) / the load generator / the whole machine (${config.cpus ?? "?"} CPUs; what the other two do not explain is the kernel's loopback work and any other process on the machine):`,
          "",
          table(
            ["server", ...config.levels.map((c) => `c=${c}: server / load gen / machine`)],
            ["---", ...config.levels.map(() => "---:")],
            cpuRows,
          ),
        ]
      : []),
    ...(errors.length > 0 ? ["", ...errors.map((e) => `- ${e}`)] : []),
  ].join("\n");
}

function retrSection(server) {
  const dovecot = server.retr.find((s) => s.key === "dovecot");
  const ceiling = server.retr.find((s) => s.key === "ceiling");
  const rows = server.retr.map((s) => [
    s.error && !finite(s.median) ? `${s.name} (n/a: ${s.error})` : s.name,
    fmt(s.median, 0),
    s.runs.length > 0 ? `${fmt(Math.min(...s.runs))}–${fmt(Math.max(...s.runs))}` : "n/a",
    ratio(s.median, dovecot?.median),
    ratio(s.median, ceiling?.median),
  ]);
  return [
    "## Server RETR throughput",
    "",
    `One message of ${mb(server.config.retrBytes)} (the same realistic mail), \`RETR 1\` timed from the command to the terminator, read by the same raw-socket reader (\`loadgen.mjs\`: unstuffed by \`MultilineDecoder\`, octets checked). The ceiling is a plain Node socket server (\`ceiling-child.mjs\`) writing the pre-encoded answer in one \`socket.write\`. Median of ${server.config.runs} run(s) after a warm-up.`,
    "",
    table(
      ["server", "MB/s", "min–max", "÷ Dovecot", "÷ ceiling"],
      ["---", "---:", "---:", "---:", "---:"],
      rows,
    ),
  ].join("\n");
}

function memorySection(server) {
  const ours = server.memory.ours ?? {};
  const dovecot = server.memory.dovecot ?? {};
  const rows = [
    ours.error
      ? ["pop3-server, MemoryStore", `n/a: ${ours.error}`, "", "", "", "", ""]
      : [
          "pop3-server, MemoryStore",
          fmt(ours.sessions),
          kb(ours.rssPerSession),
          kb(ours.pssPerSession),
          kb(ours.heapPerSession),
          kb(ours.externalPerSession),
          ratio(ours.pssPerSession, dovecot.pssPerSession, 3),
        ],
    dovecot.error
      ? ["Dovecot (a process per session)", `n/a: ${dovecot.error}`, "", "", "", "", ""]
      : [
          "Dovecot (a process per session)",
          fmt(dovecot.sessions),
          kb(dovecot.rssPerSession),
          kb(dovecot.pssPerSession),
          "—",
          "—",
          "1.000x",
        ],
  ];
  const notes = [];
  if (ours.before && ours.after) {
    notes.push(
      `Ours: RSS ${mb(ours.before.rss)} → ${mb(ours.after.rss)}, heap used ${mb(ours.before.heapUsed)} → ${mb(ours.after.heapUsed)} with ${fmt(ours.sessions)} sessions open (${fmt(ours.loggedIn)} logged in, opened in ${fmt(ours.openSeconds, 1)} s${ours.errors ? `, ${ours.errors} failed: ${ours.firstError}` : ""}).`,
    );
  }
  if (dovecot.processes) {
    notes.push(
      `Dovecot: ${dovecot.processes.before} → ${dovecot.processes.after} processes (${Object.entries(
        dovecot.processes.byName,
      )
        .map(([name, n]) => `${n} ${name}`)
        .join(
          ", ",
        )})${dovecot.errors ? `; ${dovecot.errors} sessions failed: ${dovecot.firstError}` : ""}.`,
    );
  }
  return [
    "## Server memory per idle session",
    "",
    `Sessions logged in (\`USER\`/\`PASS\`, a maildrop of one 1 KB message each, users \`idle1\`…) and left idle. Ours: growth of the server process over its baseline (after one session and a full \`gc()\`), divided by the sessions; RSS and heap from \`process.memoryUsage()\`, PSS from \`/proc/<pid>/smaps_rollup\`. Dovecot: PSS (and RSS, which counts shared pages once per process) summed over its whole process tree, before and after. Kernel socket buffers are not in either figure.`,
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
      rows,
    ),
    "",
    ...notes.map((n) => `- ${n}`),
  ].join("\n");
}

/** The three server sections (Markdown). */
export function serverSections(server) {
  return [sessionsSection(server), retrSection(server), memorySection(server)].join("\n\n");
}

/** The issue's targets, each with the measured ratio. */
export function targetRows(server) {
  const rows = [];
  const dovecot = server.sessions.find((s) => s.key === "dovecot");
  const levels = server.config.levels;
  for (const key of ["memory", "maildir"]) {
    const s = server.sessions.find((x) => x.key === key);
    if (s === undefined) continue;
    for (const [c, target] of [
      [Math.max(...levels), 1.5],
      [Math.min(...levels), 1.0],
    ]) {
      const r = (s.levels[c]?.median ?? Number.NaN) / (dovecot?.levels[c]?.median ?? Number.NaN);
      rows.push([
        `sessions/s at concurrency ${c}, ${s.name}`,
        `≥ ${target.toFixed(1)}x Dovecot`,
        ratio(r, 1),
        verdict(r, target),
      ]);
    }
  }
  const dovecotRetr = server.retr.find((s) => s.key === "dovecot")?.median;
  const ceiling = server.retr.find((s) => s.key === "ceiling")?.median;
  for (const key of ["memory", "maildir"]) {
    const s = server.retr.find((x) => x.key === key);
    if (s === undefined) continue;
    rows.push([
      `RETR MB/s, ${s.name}`,
      "≥ 1.0x Dovecot",
      ratio(s.median, dovecotRetr),
      verdict(s.median / dovecotRetr, 1),
    ]);
    rows.push([
      `RETR MB/s, ${s.name}`,
      "≥ 0.5x ceiling",
      ratio(s.median, ceiling),
      verdict(s.median / ceiling, 0.5),
    ]);
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

// ---- client (from client.bench.mjs's JSON) ----

export function clientSection(client) {
  if (client === undefined || client.error) {
    return `## Client throughput and memory\n\nn/a${client?.error ? `: ${client.error}` : ""}`;
  }
  const ours = client.throughput.find((c) => c.key === "ours");
  const rows = client.throughput.map((c) => [
    c.runs === 0 ? `${c.name} (failed: ${c.error})` : c.name,
    fmt(c.all),
    `${fmt(c.min)}–${fmt(c.max)}`,
    fmt(c.small),
    fmt(c.large),
    ratio(ours?.all, c.all),
  ]);
  const memRows = client.memory.map((m) =>
    m.error
      ? [m.name, mb(m.size), `failed: ${m.error}`, "", "", "", ""]
      : [
          m.name,
          mb(m.size),
          fmt(m.mbps),
          mb(m.peakHeap),
          mb(m.peakBuffers),
          mb(m.peakSum),
          mb(m.maxRssGrowth),
        ],
  );
  const c = client.config;
  return [
    "## Client throughput and memory",
    "",
    `From \`bench/client.bench.mjs\`: every client in its own process fetches the whole mailbox (${c.smallCount} × ${fmt(c.smallMB, 1)} MB + ${c.largeMB > 0 ? `1 × ${fmt(c.largeMB, 1)} MB` : "no large message"}) from one pop3-server child over loopback; only RETR is timed; median of ${c.runs} run(s).`,
    "",
    table(
      [
        "client",
        "MB/s (median)",
        "min–max",
        "small messages: MB/s",
        "large message: MB/s",
        "pop3-client ÷ this",
      ],
      ["---", "---:", "---:", "---:", "---:", "---:"],
      rows,
    ),
    "",
    "Memory while fetching one big generated message (fresh process, `gc()` before every 50 ms sample; growth over the baseline after login):",
    "",
    table(
      [
        "client",
        "message",
        "MB/s",
        "peak heap",
        "peak ArrayBuffers",
        "peak heap + ArrayBuffers",
        "peak RSS growth",
      ],
      ["---", "---:", "---:", "---:", "---:", "---:", "---:"],
      memRows,
    ),
    "",
    ...client.targets.map((t) => `- ${t}`),
  ].join("\n");
}

// ---- codec (parsed from pop3-core's codec.bench.mjs output) ----

export function codecSection(codec) {
  if (codec === undefined || codec.error)
    return `## Codec\n\nn/a${codec?.error ? `: ${codec.error}` : ""}`;
  const parts = [
    "## Codec",
    "",
    "From `packages/pop3-core/bench/codec.bench.mjs` (tinybench, mean per iteration), against a plain `Uint8Array.prototype.set` copy of the same bytes in the same run.",
  ];
  for (const run of codec.runs) {
    parts.push(
      "",
      `${run.title}:`,
      "",
      table(
        ["task", "MB/s", "÷ copy"],
        ["---", "---:", "---:"],
        run.rows.map((r) => [r.task, fmt(r.mbps), `${r.ratio.toFixed(3)}x`]),
      ),
    );
  }
  return parts.join("\n");
}

/** Parses the Markdown tables codec.bench.mjs prints. */
export function parseCodecOutput(text) {
  const runs = [];
  let current;
  for (const line of text.split("\n")) {
    if (line.startsWith("pop3-core codec")) {
      current = { title: line.trim(), rows: [] };
      runs.push(current);
      continue;
    }
    const m = /^\| (.+?) \| (\d+(?:\.\d+)?) \| (\d+(?:\.\d+)?)x \|$/.exec(line.trim());
    if (m && current) current.rows.push({ task: m[1], mbps: Number(m[2]), ratio: Number(m[3]) });
  }
  if (runs.length === 0 || runs.some((r) => r.rows.length === 0))
    throw new Error("no codec table in the output");
  return { runs };
}

// ---- the whole report ----

export function fullReport({ machine, server, client, codec, importCost, commands }) {
  const targets = server ? targetRows(server) : [];
  const machineRows = [
    ["date", machine.date],
    ["CPU", `${machine.cpu}, ${machine.cores} core(s)`],
    ["memory", `${(machine.memory / 2 ** 30).toFixed(1)} GiB`],
    ["kernel", machine.kernel],
    ["Node.js", machine.node],
    [
      "Dovecot",
      server?.dovecot?.available
        ? server.dovecot.version
        : `n/a (${server?.dovecot?.error ?? "not run"})`,
    ],
    ["packages", machine.packages],
    ["commit", machine.commit],
    [
      "runs",
      `median of ${server?.config.runs ?? "?"}${server?.config.smoke ? " (smoke sizes: BENCH_SMOKE=1)" : ""}`,
    ],
  ];
  const notes = server?.notes ?? [];
  return [
    "# Benchmarks",
    "",
    `Written by \`pnpm bench\` (\`bench/run.mjs\`): ${commands}. Do not edit by hand; run it again. Every figure is compared with its peer measured in the same run, on the same machine, client and server on the same box: compare ratios, not absolute numbers (they drift ±10 % between runs). Nothing here is asserted.`,
    "",
    table(["", ""], ["---", "---"], machineRows),
    "",
    "## Targets",
    "",
    table(["figure", "target", "measured", ""], ["---", "---", "---:", "---"], targets),
    ...(notes.length > 0 ? ["", ...notes.map((n) => `- ${n}`)] : []),
    "",
    server ? serverSections(server) : "## Server\n\nn/a",
    "",
    clientSection(client),
    "",
    codecSection(codec),
    "",
    importCostSection(importCost),
    "",
  ].join("\n");
}
