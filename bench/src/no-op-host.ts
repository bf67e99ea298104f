/** A consumer host with one consumer that does nothing, the subject of every consume benchmark. */
import type {
  ConsumerHost,
  EndpointOptions,
  HandlerClass,
  IdempotencyStore,
  MessageDefinition,
  Middleware,
  Transport,
} from '@sluice/core';
import { current, type SluiceBuild } from './sluice-builds.js';

export interface NoOpHostOptions {
  readonly transport: Transport;
  readonly queue: string;
  readonly message: MessageDefinition;
  /** Decorator options over the defaults (prefetch 100, one attempt). */
  readonly consumer?: EndpointOptions;
  /** The host's idempotency store (for `idempotency: true`). Default: the host's in-memory one. */
  readonly idempotencyStore?: IdempotencyStore;
  /** Host middleware around the handler. Default none. */
  readonly middleware?: readonly Middleware[];
  /** Called after each handled message with the count so far. */
  readonly onHandled: (handled: number) => void;
  /** The Sluice build whose host it is. Default this checkout's. */
  readonly sluice?: SluiceBuild;
}

export function noOpHost(options: NoOpHostOptions): ConsumerHost {
  let handled = 0;
  const sluice = options.sluice ?? current;
  @sluice.Consumer({
    queue: options.queue,
    message: options.message,
    prefetch: 100,
    retry: { attempts: 1 },
    ...options.consumer,
  })
  class NoOp {
    handle(): void {
      options.onHandled(++handled);
    }
  }
  return new sluice.ConsumerHost({
    serviceName: 'bench',
    transport: options.transport,
    consumers: [NoOp as HandlerClass<never>],
    handleSignals: false,
    ...(options.idempotencyStore ? { idempotencyStore: options.idempotencyStore } : {}),
    middleware: options.middleware ?? [],
  });
}

/**
 * Starts a no-op host on a filled queue; resolves with the ms until `count` messages were handled and
 * `after` (default nothing) resolved.
 */
export async function timeDrain(
  options: Omit<NoOpHostOptions, 'onHandled'> & {
    readonly count: number;
    readonly after?: () => Promise<void>;
  },
): Promise<number> {
  let done!: () => void;
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  const host = noOpHost({ ...options, onHandled: (handled) => handled === options.count && done() });
  const started = performance.now();
  await host.start();
  await finished;
  await options.after?.();
  const elapsed = performance.now() - started;
  await host.stop();
  return elapsed;
}
