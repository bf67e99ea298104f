/**
 * A child process whose output a test waits on: every line of stdout and stderr is kept, `waitFor`
 * resolves with the first line that matches (re-checked as output arrives, never by polling) or
 * rejects after its deadline naming what it waited for.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { ChangeSignal } from './signal.js';

export interface WatchedProcess {
  readonly child: ChildProcess;
  /** Every output line so far, stdout and stderr interleaved as they arrived. */
  readonly lines: readonly string[];
  /** The first line that contains `text` (or matches it); rejects after `timeoutMs` naming `what`. */
  waitFor(text: string | RegExp, timeoutMs: number, what: string): Promise<string>;
  /** Resolves with the exit code once the process closed (its output read to the end). */
  readonly exited: Promise<number | null>;
  /** SIGKILLs the process if it still runs (for `finally` blocks). */
  kill(): void;
}

/** Spawns `command` with piped output (stdin ignored). */
export function startWatchedProcess(
  command: string,
  args: readonly string[],
  options: Omit<SpawnOptions, 'stdio'> = {},
): WatchedProcess {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const changed = new ChangeSignal();
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream?.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      lines.push(...parts);
      changed.notify();
    });
    stream?.on('end', () => {
      if (partial !== '') lines.push(partial);
      changed.notify();
    });
  }
  // 'close', not 'exit': by then the output has been read to the end.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const matches = (line: string, text: string | RegExp) =>
    typeof text === 'string' ? line.includes(text) : text.test(line);
  return {
    child,
    lines,
    exited,
    waitFor: (text, timeoutMs, what) =>
      changed.until(() => lines.find((line) => matches(line, text)), timeoutMs, what),
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
