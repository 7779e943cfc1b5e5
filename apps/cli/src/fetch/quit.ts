import { toCliError } from "../errors";
import { failpoint } from "./failpoint";
import type { FetchRun } from "./run-state";

/**
 * Ends the session: QUIT, which commits the deletions (RFC 1939's UPDATE state), unless the
 * connection broke or the run was cut, in which case it is closed and the server deletes nothing.
 */
export async function quit(run: FetchRun): Promise<void> {
  const client = run.client;
  if (client === undefined) return;
  const { tally } = run;
  if (run.broken !== undefined || run.cut.signal.aborted) {
    client.close();
    if (tally.marked > 0) run.committed = false;
    return;
  }
  await failpoint("before-quit");
  try {
    const result = await client.quit();
    if (tally.marked > 0) {
      run.committed = result.committed;
      if (!run.committed) {
        tally.failed += tally.marked;
        run.output.error(
          `the server did not remove the ${tally.marked} message(s) marked for deletion: ${result.reply.text}; they stay on the server and will be deleted next time`,
        );
      }
    }
  } catch (error) {
    if (tally.marked > 0) {
      // Deletions were pending: without QUIT's +OK we cannot know they were committed.
      run.broken = toCliError(error);
      run.committed = false;
    } else {
      // Nothing waited for the UPDATE state: every stored message is recorded, the server
      // keeps what it had. Not a partial fetch; worth a note, not an exit code.
      run.reporter.note(
        `note: no answer to QUIT (${toCliError(error).message}); nothing needed committing`,
      );
    }
  }
}
