/**
 * The Service Bus the integration tests use: the namespace named by SERVICEBUS_CONNECTION_STRING
 * when it is set (a real namespace or the official emulator), else an in-process stand-in on a free
 * port. The stand-in's fault hooks exist only there; tests that need them skip elsewhere.
 */
import { randomUUID } from 'node:crypto';
import { ServiceBusAdministrationClient, ServiceBusClient } from '@azure/service-bus';
import { AzureServiceBusTransport, type AzureServiceBusTransportOptions } from '@sluice/azure-service-bus';
import { silentLogger, type OutgoingMessage } from '@sluice/core';
import { startServiceBusStandIn, type ServiceBusStandIn } from '@sluice/service-bus-standin';
import { afterAll, afterEach, beforeAll } from 'vitest';

/** Short SDK retries and reconnects, so a test that goes wrong fails in seconds. */
export const quickRetry = { maxRetries: 3, delayMs: 100, maxDelayMs: 1_000, timeoutMs: 3_000 } as const;
export const quickReconnect = { initialMs: 100, maxMs: 1_000 } as const;

export interface ServiceBusUnderTest {
  readonly connectionString: string;
  readonly tlsCa: string | undefined;
  /** The stand-in, when the tests run on it (its fault hooks). */
  readonly standIn: ServiceBusStandIn | undefined;
  readonly admin: ServiceBusAdministrationClient;
  readonly client: ServiceBusClient;
  /** A transport on it with quick retries and a short lock; more options over those. */
  transport(options?: Partial<AzureServiceBusTransportOptions>): AzureServiceBusTransport;
  /** Deletes an endpoint's queue and topics (missing ones are fine). */
  deleteEndpoint(queue: string, topics?: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

/** `prefix` plus a short unique id (a valid Service Bus entity name). */
export function uniqueName(prefix: string): string {
  return `${prefix}.${randomUUID().slice(0, 8)}`;
}

/** A mandatory `sbtest.work.v1` message with a fresh id and an empty JSON body to `topic`, with `overrides`. */
export function outgoing(topic: string, overrides: Partial<OutgoingMessage> = {}): OutgoingMessage {
  return {
    messageId: randomUUID(),
    type: 'sbtest.work.v1',
    contentType: 'application/json',
    sentAt: new Date(),
    headers: {},
    body: Buffer.from('{}'),
    destination: { topic },
    mandatory: true,
    ...overrides,
  };
}

export async function startServiceBus(): Promise<ServiceBusUnderTest> {
  const given = process.env.SERVICEBUS_CONNECTION_STRING;
  const standIn = given === undefined || given === '' ? await startServiceBusStandIn() : undefined;
  const connectionString = standIn?.connectionString ?? (given as string);
  const tlsCa = standIn?.ca;
  const admin = new ServiceBusAdministrationClient(
    connectionString,
    tlsCa === undefined ? {} : { tlsOptions: { ca: tlsCa } },
  );
  const client = new ServiceBusClient(connectionString, {
    retryOptions: { maxRetries: 2, retryDelayInMs: 100, maxRetryDelayInMs: 1_000, timeoutInMs: 10_000 },
  });
  const ignoreMissing = (error: unknown) => {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  };
  return {
    connectionString,
    tlsCa,
    standIn,
    admin,
    client,
    transport: (options = {}) =>
      new AzureServiceBusTransport({
        connectionString,
        tlsCa,
        retry: quickRetry,
        reconnect: quickReconnect,
        lockDurationMs: 5_000,
        connectTimeoutMs: 20_000,
        logger: silentLogger,
        ...options,
      }),
    async deleteEndpoint(queue, topics = []) {
      for (const topic of topics) await admin.deleteTopic(topic).catch(ignoreMissing);
      await admin.deleteQueue(queue).catch(ignoreMissing);
    },
    async close() {
      await client.close();
      await standIn?.close();
    },
  };
}

/** A test file's Service Bus (started once) and what each of its tests declared, deleted after it. */
export function useServiceBus(prefix: string) {
  let started: ServiceBusUnderTest | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    started = await startServiceBus();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => {
    await started?.close();
  });
  const fixture = {
    get bus(): ServiceBusUnderTest {
      if (started === undefined) throw new Error('the Service Bus starts in beforeAll');
      return started;
    },
    /** Runs `cleanup` after the current test (the last deferred first). */
    defer(cleanup: () => Promise<unknown>): void {
      cleanups.push(async () => {
        await cleanup();
      });
    },
    /** A queue and a topic of this test's own, deleted after it. */
    endpoint(): { queue: string; topic: string } {
      const queue = uniqueName(prefix);
      const topic = `${uniqueName(`${prefix}.topic`)}.v1`;
      fixture.defer(() => fixture.bus.deleteEndpoint(queue, [topic]));
      return { queue, topic };
    },
    /** A connected transport, closed after the test. */
    async openTransport(
      options?: Partial<AzureServiceBusTransportOptions>,
    ): Promise<AzureServiceBusTransport> {
      const transport = fixture.bus.transport(options);
      fixture.defer(() => transport.close());
      await transport.connect();
      return transport;
    },
  };
  return fixture;
}
