/**
 * The rule for user names that credential sources store: not empty, no `:` (the user file's
 * separator), no whitespace, no control characters, no unpaired surrogates, and no leading `#`
 * (it would turn a user-file line into a comment). The reason is safe to show: it never quotes
 * the name.
 */
export function userNameProblem(user: string): string | undefined {
  if (user.length === 0) return "the user name is empty";
  if (user.startsWith("#")) return "the user name starts with #";
  if (user.includes(":")) return "the user name contains ':'";
  if (/\s/u.test(user)) return "the user name contains whitespace";
  if (/\p{Cc}/u.test(user)) return "the user name contains control characters";
  if (/\p{Cs}/u.test(user)) return "the user name is not well-formed Unicode";
  return undefined;
}
