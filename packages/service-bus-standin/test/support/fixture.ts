import { randomUUID } from 'node:crypto';
import {
  type CreateQueueOptions,
  type ServiceBusReceivedMessage,
  type ServiceBusReceiver,
  ServiceBusAdministrationClient,
  ServiceBusClient,
} from '@azure/service-bus';
import {
  type ServiceBusStandIn,
  type ServiceBusStandInOptions,
  startServiceBusStandIn,
} from '@sluice/service-bus-standin';

/** Short SDK retries, so a test that goes wrong fails in seconds rather than minutes. */
export const quickRetries = {
  maxRetries: 2,
  retryDelayInMs: 100,
  maxRetryDelayInMs: 500,
  timeoutInMs: 10_000,
};

/** A stand-in with an SDK client and an administration client pointed at it. */
export interface StandInFixture {
  readonly standIn: ServiceBusStandIn;
  readonly client: ServiceBusClient;
  readonly admin: ServiceBusAdministrationClient;
  /** Creates a queue with a unique name (deleted by `stop`); its name. */
  queue(options?: CreateQueueOptions): Promise<string>;
  /** Closes the clients, deletes the entities it created and stops the stand-in. */
  stop(): Promise<void>;
}

/** A unique entity name for one test. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export async function startFixture(options?: ServiceBusStandInOptions): Promise<StandInFixture> {
  const standIn = await startServiceBusStandIn(options);
  const client = new ServiceBusClient(standIn.connectionString, { retryOptions: quickRetries });
  const admin = new ServiceBusAdministrationClient(
    standIn.connectionString,
    standIn.administrationClientOptions,
  );
  const queues: string[] = [];
  return {
    standIn,
    client,
    admin,
    async queue(options = {}) {
      const name = uniqueName('q');
      await admin.createQueue(name, options);
      queues.push(name);
      return name;
    },
    async stop() {
      await client.close();
      for (const name of queues) await admin.deleteQueue(name).catch(() => undefined);
      await standIn.close();
    },
  };
}

/**
 * Receives until `count` messages arrived or `deadlineMs` passed (then resolves with what came);
 * waits in short rounds so a slow machine only costs time, never a wrong answer.
 */
export async function receiveUpTo(
  receiver: ServiceBusReceiver,
  count: number,
  deadlineMs = 10_000,
): Promise<ServiceBusReceivedMessage[]> {
  const received: ServiceBusReceivedMessage[] = [];
  const deadline = Date.now() + deadlineMs;
  while (received.length < count && Date.now() < deadline) {
    const batch = await receiver.receiveMessages(count - received.length, {
      maxWaitTimeInMs: Math.max(50, Math.min(1_000, deadline - Date.now())),
    });
    received.push(...batch);
  }
  return received;
}

/** Polls `probe` until it returns a defined value or `deadlineMs` passes (then rejects). */
export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  deadlineMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
