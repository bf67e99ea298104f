/** A command run to its end, for tests of a CLI as a user runs it. */
import { execFile, type ExecFileOptions } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** What a finished command printed and its exit code (-1 when it was killed or could not start). */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `command` with `args` and resolves when it exits, whatever its exit code; bounded by
 * `options.timeout` (default 30 s), after which it is killed and resolves with code -1.
 */
export async function runCommand(
  command: string,
  args: readonly string[],
  options: ExecFileOptions = {},
): Promise<CommandResult> {
  try {
    const { stdout, stderr } = await run(command, [...args], {
      timeout: 30_000,
      ...options,
      encoding: 'utf8',
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    return {
      code: typeof failed.code === 'number' ? failed.code : -1,
      stdout: failed.stdout ?? '',
      stderr: failed.stderr ?? '',
    };
  }
}
