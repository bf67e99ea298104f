/**
 * One tool binary running as a child process in a temporary folder of its own: started, awaited until
 * it answers, and stopped with its folder removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** How long a tool may take to answer after it started (a loaded 2-core machine is slow). */
const readyTimeoutMs = 60_000;
const stopTimeoutMs = 10_000;
/** The last this many characters of the tool's output are kept for error messages. */
const keptOutput = 4_000;

export class ToolProcess {
  private output = '';
  private readonly exited: Promise<number | null>;

  private constructor(
    readonly name: string,
    /** A temporary folder for the tool's config and data; removed by `stop()`. */
    readonly dir: string,
    private readonly child: ChildProcess,
  ) {
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-keptOutput);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  }

  /** Makes the folder, lets `prepare` write into it and give the arguments, and starts `binary`. */
  static start(name: string, binary: string, prepare: (dir: string) => readonly string[]): ToolProcess {
    const dir = mkdtempSync(join(tmpdir(), `sluice-${name}-`));
    const args = prepare(dir);
    const child = spawn(binary, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    return new ToolProcess(name, dir, child);
  }

  /**
   * Resolves once `probe` resolves true (asked every 200 ms, each try bounded to 2 s). Rejects with the
   * tool's last output when it exits first or does not answer within 60 s.
   */
  async ready(probe: (signal: AbortSignal) => Promise<boolean>): Promise<void> {
    let exitCode: number | null | undefined;
    void this.exited.then((code) => (exitCode = code));
    const deadline = Date.now() + readyTimeoutMs;
    while (Date.now() < deadline) {
      if (exitCode !== undefined) {
        throw new Error(`${this.name} exited (status ${exitCode}) before it answered:\n${this.output}`);
      }
      const answered = await probe(AbortSignal.timeout(2_000)).catch(() => false);
      if (answered) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`${this.name} did not answer within ${readyTimeoutMs} ms:\n${this.output}`);
  }

  /** The tool's last output (for a failing test's message). */
  get recentOutput(): string {
    return this.output;
  }

  /**
   * Stops the tool (SIGTERM, then SIGKILL after 10 s) and removes its folder; resolves when it has
   * exited. Idempotent.
   */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), stopTimeoutMs);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
