import type { Connection } from "./connection";

/** The languages the server's texts are in (RFC 6856 §3); only English for now. */
const LANGUAGES = [{ tag: "en", description: "English" }] as const;

/** LANG without an argument lists the languages; `LANG *` picks the default; a tag picks one. */
export function answerLang(conn: Connection, tag: string | undefined): void {
  if (tag === undefined) {
    conn.replyLines(
      { ok: true, text: "language listing follows" },
      LANGUAGES.map((l) => `${l.tag} ${l.description}`),
    );
    return;
  }
  const wanted = tag === "*" ? "en" : tag.toLowerCase();
  const match = LANGUAGES.find((l) => l.tag === wanted || wanted.startsWith(`${l.tag}-`));
  if (match === undefined) {
    conn.reply({ ok: false, text: "unsupported language" });
    return;
  }
  conn.reply({ ok: true, text: `${match.tag} ${match.description} selected` });
}
