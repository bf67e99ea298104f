/**
 * An application as the `sluice` CLI sees it: its own module, which exports the consumer host's
 * options, read without connecting anywhere.
 *
 * The module must have a named export `hostOptions`: a function of the transport returning the
 * `ConsumerHostOptions` the service runs (`export function hostOptions(transport) { ... }`). The CLI
 * calls it with an in-memory transport to read the decorators (nothing connects), and `sluice
 * simulate` calls it with a RabbitMQ transport to run the consumers.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  ConsumerHost,
  InMemoryTransport,
  resolveEndpointConfig,
  type ConsumerHostOptions,
  type HandlerClass,
  type Transport,
} from '@sluice/core';

/** What an application module exports for the CLI. */
export interface SluiceApplication {
  hostOptions(transport: Transport): ConsumerHostOptions;
}

/** One consumed queue and its scaling hints, as the chart's `consumers[]` takes it. */
export interface ConsumerScaling {
  /** The consumer class's name. */
  readonly name: string;
  /** `command` for a `@Consumer`, `event` for an `@EventHandler`. */
  readonly kind: 'command' | 'event';
  /** The queue the transport declares (core's naming module: `<service>.<subscription>` for events). */
  readonly queue: string;
  /** Message types bound to the queue (Service Bus: a topic each, whose subscription forwards to the queue). */
  readonly topics: readonly string[];
  readonly targetBacklogPerReplica: number;
  readonly activation: number;
  readonly min: number;
  readonly max: number;
  readonly cooldownSeconds: number;
}

/** The parts of an application the manifests need. */
export interface ApplicationDescription {
  readonly serviceName: string;
  /** The deadline of the host's whole stop, drain included (`stopTimeoutMs`, option or core's default). */
  readonly stopTimeoutMs: number;
  /** The host's HTTP port (/healthz, /readyz, /metrics); undefined when it serves none. */
  readonly httpPort: number | undefined;
  readonly consumers: readonly ConsumerScaling[];
}

/** Imports the module at `path` (relative to the working directory) and checks its `hostOptions` export. */
export async function loadApplication(path: string): Promise<SluiceApplication> {
  const url = pathToFileURL(resolve(path)).href;
  let module: Record<string, unknown>;
  try {
    module = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    throw new Error(
      `cannot import the application module ${path}: ${(error as Error).message.split('\n')[0]}`,
      {
        cause: error,
      },
    );
  }
  const hostOptions = module.hostOptions;
  if (typeof hostOptions !== 'function') {
    throw new Error(
      `${path} has no named export "hostOptions" (a function of the transport returning the ConsumerHostOptions)`,
    );
  }
  return { hostOptions: hostOptions as SluiceApplication['hostOptions'] };
}

/**
 * Reads the application's host options and validates every consumer's decorator as the host would at
 * start-up (a bad option throws `SLUICE_INVALID_OPTION` naming class and option). Connects nothing.
 */
export function describeApplication(app: SluiceApplication): ApplicationDescription {
  const options = app.hostOptions(new InMemoryTransport());
  const host = new ConsumerHost({ ...options, handleSignals: false });
  const consumers = (options.consumers ?? []).map((handler) => {
    const config = resolveEndpointConfig(handler as HandlerClass, options.serviceName, options.defaults);
    return {
      name: config.name,
      kind: config.kind === 'consumer' ? 'command' : 'event',
      queue: config.queue,
      topics: config.topics,
      ...config.scaling,
    } satisfies ConsumerScaling;
  });
  return {
    serviceName: options.serviceName,
    stopTimeoutMs: host.stopTimeoutMs,
    httpPort: options.http ? (options.http.port ?? undefined) : undefined,
    consumers,
  };
}
