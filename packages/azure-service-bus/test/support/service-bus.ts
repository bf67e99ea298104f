/**
 * The Service Bus the integration tests use: the namespace named by SERVICEBUS_CONNECTION_STRING
 * when it is set (a real namespace or the official emulator), else an in-process stand-in on a free
 * port. The stand-in's fault hooks exist only there; tests that need them skip elsewhere.
 */
import { randomUUID } from 'node:crypto';
import { ServiceBusAdministrationClient, ServiceBusClient } from '@azure/service-bus';
import { AzureServiceBusTransport, type AzureServiceBusTransportOptions } from '@sluice/azure-service-bus';
import { deadLetterSubQueueName, silentLogger } from '@sluice/core';
import { startServiceBusStandIn, type ServiceBusStandIn } from '@sluice/service-bus-standin';

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

export { deadLetterSubQueueName };
