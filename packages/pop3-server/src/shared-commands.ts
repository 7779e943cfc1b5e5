import { type LanguageListing, serializeCapabilities, serializeLanguageListing } from "pop3-core";
import type { PhaseHost } from "./phase-host";
import { capabilities } from "./policy";

/** Answers to the commands both phases take the same way: CAPA, LANG and an unknown command. */

/** CAPA (RFC 2449 §5): the policy's list for this connection now. */
export function answerCapa(host: PhaseHost): void {
  const list = capabilities(host.context.options, {
    tls: host.tls,
    stlsConfigured: host.context.tls !== undefined,
  });
  host.replyLines({ ok: true, text: "capability list follows" }, serializeCapabilities(list));
}

/** The languages the server's texts are in (RFC 6856 §3); only English for now. */
const LANGUAGES: readonly LanguageListing[] = [{ tag: "en", description: "English" }];

/** LANG without an argument lists the languages; `LANG *` picks the default; a tag picks one. */
export function answerLang(host: PhaseHost, tag: string | undefined): void {
  if (tag === undefined) {
    host.replyLines(
      { ok: true, text: "language listing follows" },
      LANGUAGES.map(serializeLanguageListing),
    );
    return;
  }
  const wanted = tag === "*" ? "en" : tag.toLowerCase();
  const match = LANGUAGES.find((l) => l.tag === wanted || wanted.startsWith(`${l.tag}-`));
  if (match === undefined) {
    host.reply({ ok: false, text: "unsupported language" });
    return;
  }
  host.reply({ ok: true, text: `${match.tag} ${match.description} selected` });
}

/** A command this phase does not take: `-ERR`, and it counts towards the bad-command limit. */
export function answerUnknown(host: PhaseHost): void {
  host.reply({ ok: false, text: "unknown command" });
  host.countBadCommand();
}
