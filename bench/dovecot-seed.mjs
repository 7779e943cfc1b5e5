// Seeds the Maildirs of the benchmark's private Dovecot, as root (run directly, or through
// `sudo -n node` by dovecot.mjs). Does what `dovecot.sh reset-mail` + `deliver` do, without a
// shell per message: each user's home is replaced by a fresh Maildir, the messages are written
// into `new/`, and everything is chowned to the mail uid (scripts/dovecot/README.md, "Seeding").
//
//   node dovecot-seed.mjs '{ "mailRoot", "uid", "gid", "groups": [{ "names": [...], "mail": [{ count, size, seed }] }] }'
import { mailSet, writeMaildir } from "./mailboxes.mjs";

const { mailRoot, uid, gid, groups } = JSON.parse(process.argv[2]);
for (const group of groups) {
  const messages = group.mail.flatMap((spec) => mailSet(spec));
  for (const name of group.names) writeMaildir(mailRoot, name, messages, { uid, gid });
}
