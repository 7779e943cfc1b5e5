/**
 * A small `.netrc` reader (the format of ftp(1), curl and fetchmail): whitespace-separated tokens
 * `machine NAME`, `default`, `login`, `password`, `account`, and `macdef NAME` whose body runs to
 * the next empty line. `#` starts a comment; a token may be "double-quoted" with `\` escapes.
 */

export interface NetrcEntry {
  /** undefined for the `default` entry. */
  readonly machine: string | undefined;
  readonly login?: string;
  readonly password?: string;
  readonly account?: string;
}

export function parseNetrc(text: string): NetrcEntry[] {
  const entries: NetrcEntry[] = [];
  let current:
    | { machine: string | undefined; login?: string; password?: string; account?: string }
    | undefined;
  let i = 0;

  const skipSpaceAndComments = (): void => {
    while (i < text.length) {
      const c = text[i] as string;
      if (c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f" || c === "\v") i += 1;
      else if (c === "#") {
        while (i < text.length && text[i] !== "\n") i += 1;
      } else break;
    }
  };

  const token = (): string | undefined => {
    skipSpaceAndComments();
    if (i >= text.length) return undefined;
    if (text[i] === '"') {
      i += 1;
      let value = "";
      while (i < text.length && text[i] !== '"') {
        if (text[i] === "\\" && i + 1 < text.length) i += 1;
        value += text[i];
        i += 1;
      }
      i += 1; // closing quote
      return value;
    }
    const start = i;
    while (i < text.length && !/\s/.test(text[i] as string)) i += 1;
    return text.slice(start, i);
  };

  const finish = (): void => {
    if (current !== undefined) entries.push(current);
    current = undefined;
  };

  for (let word = token(); word !== undefined; word = token()) {
    switch (word) {
      case "machine":
        finish();
        current = { machine: token() ?? "" };
        break;
      case "default":
        finish();
        current = { machine: undefined };
        break;
      case "login":
      case "password":
      case "account": {
        const value = token();
        if (current !== undefined && value !== undefined) current[word] = value;
        break;
      }
      case "macdef": {
        finish();
        token(); // the macro's name
        // The body runs to an empty line.
        const end = text.indexOf("\n\n", i);
        i = end === -1 ? text.length : end + 2;
        break;
      }
      default:
        // Unknown tokens are ignored, as ftp(1) does.
        break;
    }
  }
  finish();
  return entries;
}

/**
 * The entry for `host` (case-insensitive), preferring one whose login is `user` when a user is
 * known; then the `default` entry. An entry for the host with another login is not used.
 */
export function findNetrcEntry(
  entries: readonly NetrcEntry[],
  host: string,
  user: string | undefined,
): NetrcEntry | undefined {
  const wanted = host.toLowerCase();
  const matches = (entry: NetrcEntry): boolean =>
    user === undefined || entry.login === undefined || entry.login === user;
  const forHost = entries.filter((e) => e.machine?.toLowerCase() === wanted);
  const exact = forHost.find(matches);
  if (exact !== undefined) return exact;
  if (forHost.length > 0) return undefined;
  const fallback = entries.find((e) => e.machine === undefined);
  return fallback !== undefined && matches(fallback) ? fallback : undefined;
}
