import { bytesEqual, decodeLenient, showBytes, startsWith } from "./text";
import type { LineMatch } from "./types";

/** Whether a received line (without its line end) satisfies an expectation. */
export function matchLine(match: LineMatch, line: Uint8Array): boolean {
  switch (match.type) {
    case "exact":
      return bytesEqual(line, match.bytes);
    case "prefix":
      return (
        startsWith(line, match.bytes) &&
        (!match.word || line.length === match.bytes.length || line[match.bytes.length] === 0x20)
      );
    case "regex":
      return match.regex.test(decodeLenient(line));
  }
}

/** The expectation in words, for failure messages. */
export function describeMatch(match: LineMatch): string {
  switch (match.type) {
    case "exact":
      return showBytes(match.bytes);
    case "prefix":
      if (match.bytes.length === 0) return "any line";
      return match.word
        ? `${showBytes(match.bytes)}, alone or followed by a space and more`
        : `a line starting with ${showBytes(match.bytes)}`;
    case "regex":
      return `a line matching /${match.source}/ (whole line)`;
  }
}
