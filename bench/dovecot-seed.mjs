// Seeds the Maildirs of the benchmark's private Dovecot, as root (run directly, or through
// `sudo -n node` by dovecot.mjs). Does what `dovecot.sh reset-mail` + `deliver` do, without a
// shell per message: each user's home is replaced by a fresh Maildir, the messages are written
// into `new/`, and everything is chowned to the mail uid (scripts/dovecot/README.md, "Seeding").
//
//   node dovecot-seed.mjs '{ "mailRoot", "uid", "gid", "groups": [{ "names": [...], "mail": [{ count, size, seed }] }] }'
//   node dovecot-seed.mjs '{ "mailRoot", "uid", "gid", "refill": { "names": [...], count, size, round } }'
//     tops each user's Maildir up to `count` messages (mailboxes.mjs's refillMaildir), keeping
//     what is there (and Dovecot's indexes).
import { mailSet, refillMaildir, writeMaildir } from "./mailboxes.mjs";

const { mailRoot, uid, gid, groups = [], refill } = JSON.parse(process.argv[2]);
for (const group of groups) {
  const messages = group.mail.flatMap((spec) => mailSet(spec));
  for (const name of group.names) writeMaildir(mailRoot, name, messages, { uid, gid });
}
if (refill !== undefined) {
  for (const name of refill.names) refillMaildir(mailRoot, name, refill, { uid, gid });
}
