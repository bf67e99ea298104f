/**
 * The Sluice a benchmark measures: this checkout's, and optionally an earlier build beside it, so that
 * "before" and "after" come out of one run on the same broker (BENCH_SLUICE_BEFORE: the root of
 * another checkout of this repository, built with `npm ci && npm run build`; its packages are loaded
 * from its own dist/ and node_modules, so the two never share a module).
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as core from '@sluice/core';
import * as rabbitmq from '@sluice/rabbitmq';

/** What the benchmarks use of a Sluice build. */
export interface SluiceBuild {
  readonly Bus: typeof core.Bus;
  readonly Consumer: typeof core.Consumer;
  readonly ConsumerHost: typeof core.ConsumerHost;
  readonly defineCommand: typeof core.defineCommand;
  readonly defineEvent: typeof core.defineEvent;
  readonly MessagingTelemetry: typeof core.MessagingTelemetry;
  readonly RabbitMqTransport: typeof rabbitmq.RabbitMqTransport;
}

/** This checkout's Sluice. */
export const current: SluiceBuild = { ...core, ...rabbitmq };

/** The build at BENCH_SLUICE_BEFORE, when it is set. */
export async function before(): Promise<SluiceBuild | undefined> {
  const root = process.env.BENCH_SLUICE_BEFORE;
  if (root === undefined || root === '') return undefined;
  const load = (name: string) => import(pathToFileURL(join(root, 'packages', name, 'dist', 'index.js')).href);
  const [beforeCore, beforeRabbitmq] = (await Promise.all([load('core'), load('rabbitmq')])) as [
    typeof core,
    typeof rabbitmq,
  ];
  return { ...beforeCore, ...beforeRabbitmq };
}
