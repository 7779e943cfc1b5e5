import { InvalidArgumentError } from "commander";

/** Parsers for command-line values; each throws commander's InvalidArgumentError. */

export function messageNumber(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new InvalidArgumentError("a message number is a whole number from 1");
  }
  return Number(value);
}

export function count(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError("must be a whole number");
  return Number(value);
}

/** `10M`, `512k`, `2000000` → octets; undefined when it is not a size. */
export function parseSize(value: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([kmg]?)i?b?$/i.exec(value.trim());
  if (match === null) return undefined;
  const unit = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(match[2] ?? "").toLowerCase()] ?? 1;
  return Math.floor(Number(match[1]) * unit);
}

export function size(value: string): number {
  const octets = parseSize(value);
  if (octets === undefined) throw new InvalidArgumentError("a size like 5000000, 512k, 10M or 1G");
  return octets;
}

/** Seconds, at least `min` (whole or decimal). */
export function seconds(min: number): (value: string) => number {
  return (value) => {
    if (!/^\d+(\.\d+)?$/.test(value) || Number(value) < min) {
      throw new InvalidArgumentError(`must be a number of seconds, at least ${min}`);
    }
    return Number(value);
  };
}

/** Repeatable options collect their values. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
