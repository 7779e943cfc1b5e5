// What must not be in a README that ships in a package's tarball (and is shown on the registry's
// page): links that only work inside the repository, and sections about working on the repository.

const REPO_ONLY_COMMAND =
  /\bpnpm (bench|build|test|typecheck|lint|check-exports|check-readmes|demo|pop3|example|changeset|--filter|-F)\b/;

/** @returns {{ line: number, message: string }[]} */
export function lintShippedReadme(markdown) {
  const problems = [];
  let inFence = false;
  markdown.split(/\r?\n/).forEach((text, index) => {
    const line = index + 1;
    if (/^ {0,3}(`{3,}|~{3,})/.test(text)) inFence = !inFence;
    if (!inFence && /^#{1,6}\s+(Development|Contributing)\b/i.test(text))
      problems.push({ line, message: `repository-only section "${text.trim()}"` });
    const command = REPO_ONLY_COMMAND.exec(text);
    if (command)
      problems.push({
        line,
        message: `repository-only command "${command[0]}" (not in a tarball)`,
      });
    if (inFence) return;
    for (const match of text.matchAll(/!?\[[^\]]*\]\(([^)\s]+)[^)]*\)|^\s*\[[^\]]+\]:\s*(\S+)/g)) {
      const target = match[1] ?? match[2];
      if (!/^(https?:|mailto:|#)/.test(target))
        problems.push({
          line,
          message: `relative link "${target}" (broken on the registry's page; use an absolute URL)`,
        });
    }
  });
  return problems;
}
