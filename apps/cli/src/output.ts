/** Where the CLI writes: data to stdout, messages to stderr; colour only on a terminal. */

/** --quiet: errors, warnings and the data asked for; --verbose: also what happens on the way. */
export type Verbosity = "quiet" | "normal" | "verbose";

export interface OutputOptions {
  readonly json: boolean;
  /** Default "normal". */
  readonly verbosity?: Verbosity;
  /** `--no-color` sets this to false. */
  readonly color: boolean;
  readonly env?: NodeJS.ProcessEnv;
  readonly stdout?: NodeJS.WriteStream;
  readonly stderr?: NodeJS.WriteStream;
}

const CODES = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
} as const;

export type Style = keyof typeof CODES;

/** https://no-color.org: any non-empty NO_COLOR turns colour off; so does a pipe or TERM=dumb. */
export function colorEnabled(
  stream: { isTTY?: boolean },
  env: NodeJS.ProcessEnv,
  wanted: boolean,
): boolean {
  if (!wanted) return false;
  const noColor = env["NO_COLOR"];
  if (noColor !== undefined && noColor !== "") return false;
  if (env["TERM"] === "dumb") return false;
  return stream.isTTY === true;
}

export class Painter {
  readonly enabled: boolean;
  constructor(enabled: boolean) {
    this.enabled = enabled;
  }
  paint(style: Style, text: string): string {
    if (!this.enabled) return text;
    const [open, close] = CODES[style];
    return `\u001b[${open}m${text}\u001b[${close}m`;
  }
}

export class Output {
  readonly json: boolean;
  readonly verbosity: Verbosity;
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  /** Colours for what goes to stdout / stderr. */
  readonly out: Painter;
  readonly err: Painter;

  constructor(options: OutputOptions) {
    const env = options.env ?? process.env;
    this.json = options.json;
    this.verbosity = options.verbosity ?? "normal";
    this.stdout = options.stdout ?? process.stdout;
    this.stderr = options.stderr ?? process.stderr;
    this.out = new Painter(!options.json && colorEnabled(this.stdout, env, options.color));
    this.err = new Painter(colorEnabled(this.stderr, env, options.color));
  }

  /** A line of human-readable output on stdout. */
  line(text = ""): void {
    this.stdout.write(`${text}\n`);
  }

  /** One JSON document on stdout. */
  jsonDocument(value: unknown): void {
    this.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** One NDJSON event line on stdout. */
  event(value: unknown): void {
    this.stdout.write(`${JSON.stringify(value)}\n`);
  }

  warn(message: string): void {
    this.stderr.write(`${this.err.paint("yellow", "warning:")} ${message}\n`);
  }

  /** --quiet given: print only errors, warnings and the data asked for. */
  get quiet(): boolean {
    return this.verbosity === "quiet";
  }

  /** --verbose given: also say what happens on the way (`detail`). */
  get verbose(): boolean {
    return this.verbosity === "verbose";
  }

  /** A remark on stderr (progress, what was recovered); not with --quiet. */
  note(message: string): void {
    if (this.quiet) return;
    this.stderr.write(`${message}\n`);
  }

  /** A line on stderr only with --verbose: connections, logins, decisions. */
  detail(message: string): void {
    if (!this.verbose) return;
    this.stderr.write(`${this.err.paint("dim", message)}\n`);
  }

  error(message: string): void {
    this.stderr.write(`${this.err.paint("red", "error:")} ${message}\n`);
  }

  /** A protocol line for --trace, on stderr. */
  trace(direction: "send" | "receive", line: string): void {
    const tag = direction === "send" ? this.err.paint("cyan", "C:") : this.err.paint("dim", "S:");
    this.stderr.write(`${tag} ${line}\n`);
  }
}

/** Left-aligned columns; the last column is not padded. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell));
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) =>
          i === row.length - 1 ? cell : cell + " ".repeat((widths[i] ?? 0) - visibleLength(cell)),
        )
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

function visibleLength(text: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour codes
  return text.replace(/\u001b\[[0-9;]*m/g, "").length;
}

/** 1536 → "1.5 KiB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
