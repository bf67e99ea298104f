/**
 * The simulated Deployment: real processes of the application's consumer host, one per replica,
 * started and stopped to the count the controllers set. Scale-in sends SIGTERM (the host drains within
 * its deadline) to starting replicas first, then the newest, as a ReplicaSet picks pods; a replica
 * still alive after the termination grace gets SIGKILL, as the kubelet does.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const workerPath = fileURLToPath(new URL('./worker.js', import.meta.url));

interface Replica {
  readonly child: ChildProcess;
  readonly startedAt: number;
  ready: boolean;
  terminating: boolean;
  /** `http://127.0.0.1:<port>` of its `/healthz`, `/readyz` and `/metrics` (with `ops`). */
  ops: string | undefined;
}

export interface ReplicaPoolOptions {
  /** The application module (its `hostOptions` export). */
  readonly module: string;
  readonly amqpUrl: string;
  /** Time each handler call also spends, standing in for real work; 0 for none. */
  readonly workMs: number;
  /** SIGKILL this long after SIGTERM (the pod's terminationGracePeriodSeconds). */
  readonly terminationGraceMs: number;
  /** Serve each replica's `/healthz`, `/readyz` and `/metrics` on a free 127.0.0.1 port. Default false. */
  readonly ops?: boolean;
  /**
   * A folder for each replica's output (`replica-<n>.log`, stdout and stderr). Default: stdout is
   * dropped and stderr is this process's.
   */
  readonly logDir?: string;
  /**
   * The scheduling priority (nice value, -20 to 19) each replica starts with. On one machine a positive
   * one keeps the replicas' start-up and work from taking the CPU of the processes a load test
   * measures, as pods on other nodes would not. Default: this process's own.
   */
  readonly priority?: number;
  /** Environment of every replica, over this process's own. Default none. */
  readonly env?: Readonly<Record<string, string>>;
  /** Called with the ids a replica reports handled and dead-lettered. Default: nothing. */
  readonly onSettled?: (handled: readonly string[], deadLettered: readonly string[]) => void;
  /** Called when a replica exits unasked (crash), with its exit code. */
  readonly onCrash: (code: number | null) => void;
}

type WorkerMessage =
  { type: 'ready'; opsPort?: number } | { type: 'settled'; handled?: string[]; deadLettered?: string[] };

export class ReplicaPool {
  private readonly replicas: Replica[] = [];
  private readonly exited: Promise<void>[] = [];
  /** Seconds from spawn to ready, per replica that became ready. */
  readonly startupSeconds: number[] = [];
  /** Replicas started so far (names their log files). */
  private started = 0;

  constructor(private readonly options: ReplicaPoolOptions) {}

  /** Replicas counted by the Deployment (not terminating). */
  get count(): number {
    return this.replicas.filter((r) => !r.terminating).length;
  }

  /** Replicas consuming now. */
  get ready(): number {
    return this.replicas.filter((r) => r.ready && !r.terminating).length;
  }

  /** Processes still alive, terminating ones included. */
  get alive(): number {
    return this.replicas.length;
  }

  /** The ops URLs (`http://127.0.0.1:<port>`) of the replicas consuming now (with `ops`). */
  get opsUrls(): string[] {
    return this.replicas.flatMap((r) => (r.ready && !r.terminating && r.ops !== undefined ? [r.ops] : []));
  }

  /** Starts or terminates replicas until `count` of them are not terminating. */
  scaleTo(count: number): void {
    while (this.count < count) this.start();
    const stoppable = () =>
      this.replicas
        .filter((r) => !r.terminating)
        .sort((a, b) => Number(a.ready) - Number(b.ready) || b.startedAt - a.startedAt);
    while (this.count > count) {
      const victim = stoppable()[0];
      if (victim === undefined) break;
      this.terminate(victim);
    }
  }

  /** Terminates every replica and resolves when all have exited. */
  async stopAll(): Promise<void> {
    this.scaleTo(0);
    await Promise.all(this.exited);
  }

  private start(): void {
    const { options } = this;
    const log =
      options.logDir === undefined
        ? undefined
        : openSync(join(options.logDir, `replica-${++this.started}.log`), 'a');
    const child = fork(workerPath, [], {
      env: {
        ...process.env,
        ...options.env,
        SLUICE_SIM_MODULE: options.module,
        SLUICE_SIM_OPS: options.ops === true ? '1' : '0',
        AMQP_URL: options.amqpUrl,
        SLUICE_SIM_WORK_MS: String(options.workMs),
        LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
        LOG_FORMAT: 'json',
      },
      stdio: log === undefined ? ['ignore', 'ignore', 'inherit', 'ipc'] : ['ignore', log, log, 'ipc'],
    });
    if (log !== undefined) closeSync(log);
    if (options.priority !== undefined && child.pid !== undefined) setPriority(child.pid, options.priority);
    const replica: Replica = {
      child,
      startedAt: Date.now(),
      ready: false,
      terminating: false,
      ops: undefined,
    };
    this.replicas.push(replica);
    child.on('message', (message: WorkerMessage) => {
      if (message.type === 'ready') {
        replica.ready = true;
        if (message.opsPort !== undefined) replica.ops = `http://127.0.0.1:${message.opsPort}`;
        this.startupSeconds.push((Date.now() - replica.startedAt) / 1000);
      } else if (message.type === 'settled') {
        options.onSettled?.(message.handled ?? [], message.deadLettered ?? []);
      }
    });
    this.exited.push(
      new Promise((resolve) =>
        child.on('exit', (code) => {
          this.replicas.splice(this.replicas.indexOf(replica), 1);
          if (!replica.terminating) options.onCrash(code);
          resolve();
        }),
      ),
    );
  }

  private terminate(replica: Replica): void {
    replica.terminating = true;
    replica.child.kill('SIGTERM');
    const kill = setTimeout(() => replica.child.kill('SIGKILL'), this.options.terminationGraceMs);
    replica.child.once('exit', () => clearTimeout(kill));
  }
}
