/** A fixture process of these tests, reporting JSON lines on stdout, as a test waits on them. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ChangeSignal } from '@sluice/testing';

export interface ChildEvent {
  readonly event: 'ready' | 'settled' | 'failed' | 'handling' | 'committed' | 'confirmed';
  readonly messageId?: string;
  readonly outcome?: string;
  readonly attempt?: number;
  readonly code?: string;
  readonly error?: string;
}

export class Child {
  readonly events: ChildEvent[] = [];
  readonly stderr: string[] = [];
  readonly changed = new ChangeSignal();
  private readonly process: ChildProcess;
  readonly exited: Promise<NodeJS.Signals | null>;

  /** Starts `fixtures/<fixture>` with `env` added to the test's environment. */
  constructor(
    readonly name: string,
    fixture: string,
    env: Readonly<Record<string, string>>,
  ) {
    this.process = spawn(process.execPath, [new URL(`../fixtures/${fixture}`, import.meta.url).pathname], {
      cwd: new URL('../../../../', import.meta.url).pathname,
      env: { ...process.env, ...env, NAME: name },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.process.stderr?.on('data', (chunk: Buffer) => this.stderr.push(chunk.toString()));
    this.exited = new Promise((resolve) => this.process.once('exit', (_code, signal) => resolve(signal)));
    this.process.on('exit', () => this.changed.notify());
    createInterface({ input: this.process.stdout! }).on('line', (line) => {
      this.events.push(JSON.parse(line) as ChildEvent);
      this.changed.notify();
    });
  }

  get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  /** Resolves once the child reported `ready`; rejects naming its stderr when it exited first. */
  async ready(timeoutMs = 30_000): Promise<void> {
    const ready = await this.changed.until(
      () => (this.events.some((e) => e.event === 'ready') ? true : this.running ? undefined : false),
      timeoutMs,
      `${this.name} to start`,
    );
    if (!ready) throw new Error(`${this.name} exited before it was ready:\n${this.stderr.join('')}`);
  }

  /** Resolves with the first event matching `match`. */
  waitFor(match: (event: ChildEvent) => boolean, timeoutMs: number, what: string): Promise<ChildEvent> {
    return this.changed.until(() => this.events.find(match), timeoutMs, `${this.name}: ${what}`);
  }

  /** SIGKILLs the child and resolves once it is gone. */
  async kill(): Promise<void> {
    if (this.running) this.process.kill('SIGKILL');
    await this.exited;
  }
}
