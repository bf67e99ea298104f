/** Picks the broker from the environment, so the same code runs embedded or on a real broker. */
import { InMemoryTransport, type Logger, type Transport } from '@sluice/core';

export async function createTransport(env: NodeJS.ProcessEnv, logger: Logger): Promise<Transport> {
  if (env.AMQP_URL) {
    const { RabbitMqTransport } = await import('@sluice/rabbitmq');
    // With the management API the host's sluice_queue_depth counts ready + unacked, as KEDA does.
    const management = env.RABBITMQ_MANAGEMENT_URL ? { url: env.RABBITMQ_MANAGEMENT_URL } : undefined;
    return new RabbitMqTransport({ url: env.AMQP_URL, logger, management });
  }
  if (env.SERVICEBUS_CONNECTION_STRING) {
    throw new Error(
      'SERVICEBUS_CONNECTION_STRING is set, but this build has no Azure Service Bus transport yet',
    );
  }
  return new InMemoryTransport();
}

/**
 * A second transport to the same broker as `host`, for the outbox relay: a connection of its own on
 * RabbitMQ, the same in-memory broker otherwise.
 */
export async function createRelayTransport(
  env: NodeJS.ProcessEnv,
  logger: Logger,
  host: Transport,
): Promise<Transport> {
  if (env.AMQP_URL) {
    const { RabbitMqTransport } = await import('@sluice/rabbitmq');
    return new RabbitMqTransport({ url: env.AMQP_URL, logger, connectionName: 'orders-outbox-relay' });
  }
  return new InMemoryTransport({ broker: (host as InMemoryTransport).broker });
}
