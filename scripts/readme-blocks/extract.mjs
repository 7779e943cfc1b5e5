// Finds the TypeScript and JavaScript code blocks of a README, with the `readme-check` comment
// that may stand right before a block:
//
//   <!-- readme-check: run -->                  typecheck, then run it (Node 20 and Node 24)
//   <!-- readme-check: vitest -->               typecheck, then run it as a vitest test file
//   <!-- readme-check: skip because ... -->     neither (say why)
//   (no comment)                                typecheck only
//
// A `run` comment may add, in any order:
//   with a test server        a pop3-test-harness test server with TLS, users alice and test
//                             (password "secret", also in POP3_PASSWORD) and three messages for
//                             alice; fresh for every run
//   replacing `A` with `B`    run the block with the text A replaced by B (A must occur); in B,
//                             $HOST, $PORT (plain + STLS), $TLS_PORT and $CA (the certificate's
//                             PEM) stand for the test server's
//   printing "TEXT"           its output must contain TEXT
// The block is typechecked exactly as the README shows it; replacements only apply to running.

const LANGS = new Map([
  ["ts", "ts"],
  ["typescript", "ts"],
  ["mts", "ts"],
  ["js", "js"],
  ["javascript", "js"],
  ["mjs", "js"],
]);

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)(.*)$/;

/**
 * @returns {{ line: number, lang: "ts" | "js", info: string, code: string,
 *   directive: ReturnType<typeof parseDirective> }[]} `line` is the README line of the fence.
 */
export function extractBlocks(markdown) {
  const lines = markdown.split(/\r?\n/);
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]);
    if (!open) continue;
    const [, fence, rawLang, rest] = open;
    let end = i + 1;
    while (end < lines.length && !isClosing(lines[end], fence)) end++;
    const lang = LANGS.get(rawLang.toLowerCase());
    if (lang !== undefined) {
      blocks.push({
        line: i + 1,
        lang,
        info: `${rawLang}${rest}`.trim(),
        code: `${lines.slice(i + 1, end).join("\n")}\n`,
        directive: parseDirective(commentBefore(lines, i)),
      });
    }
    i = end;
  }
  return blocks;
}

function isClosing(line, fence) {
  const trimmed = line.trim();
  return trimmed.startsWith(fence) && /^[`~]+$/.test(trimmed) && trimmed[0] === fence[0];
}

/** The `readme-check` comment ending on the last non-blank line before the fence, if any. */
function commentBefore(lines, fenceIndex) {
  let end = fenceIndex - 1;
  while (end >= 0 && lines[end].trim() === "") end--;
  if (end < 0 || !lines[end].trimEnd().endsWith("-->")) return undefined;
  let start = end;
  while (start >= 0 && !lines[start].includes("<!--")) start--;
  if (start < 0) return undefined;
  const text = lines
    .slice(start, end + 1)
    .join(" ")
    .replace(/^.*?<!--/, "")
    .replace(/-->\s*$/, "")
    .replace(/\s+/g, " ")
    .trim();
  return text.startsWith("readme-check:") ? text.slice("readme-check:".length).trim() : undefined;
}

export function parseDirective(text) {
  const directive = {
    mode: "typecheck",
    testServer: false,
    replacements: [],
    printing: [],
    text: text ?? "",
    problems: [],
  };
  if (text === undefined) return directive;
  const mode = /^\w+/.exec(text)?.[0];
  if (mode === "run" || mode === "vitest" || mode === "skip" || mode === "typecheck")
    directive.mode = mode;
  else directive.problems.push(`unknown readme-check mode in <!-- readme-check: ${text} -->`);
  if (mode === "skip" && !/^skip\s+\S/.test(text))
    directive.problems.push("readme-check: skip needs a reason");
  directive.testServer = /\bwith a test server\b/.test(text);
  for (const match of text.matchAll(/replacing `([^`]+)` with `([^`]*)`/g))
    directive.replacements.push([match[1], match[2]]);
  for (const match of text.matchAll(/printing "([^"]+)"/g)) directive.printing.push(match[1]);
  return directive;
}
