/** Picks the broker from the environment, so the same code runs embedded or on a real broker. */
import { ErrorCodes, InMemoryTransport, SluiceError, type Logger, type Transport } from '@sluice/core';

/** AMQP_CONNECT_TIMEOUT_MS: how long the first connection is retried (the transport's default when unset). */
function connectTimeoutMs(env: NodeJS.ProcessEnv): number | undefined {
  const given = env.AMQP_CONNECT_TIMEOUT_MS;
  if (given === undefined || given === '') return undefined;
  if (!/^\d+$/.test(given)) {
    throw new SluiceError(
      ErrorCodes.INVALID_OPTION,
      `AMQP_CONNECT_TIMEOUT_MS must be a whole number of milliseconds (got ${JSON.stringify(given)})`,
    );
  }
  return Number(given);
}

/**
 * RabbitMQ when AMQP_URL is set, Azure Service Bus when SERVICEBUS_CONNECTION_STRING is, else the
 * in-memory transport. Throws `SLUICE_INVALID_OPTION` for a
 * malformed AMQP_URL or AMQP_CONNECT_TIMEOUT_MS.
 */
export async function createTransport(env: NodeJS.ProcessEnv, logger: Logger): Promise<Transport> {
  if (env.AMQP_URL) {
    const { RabbitMqTransport } = await import('@sluice/rabbitmq');
    // With the management API the host's sluice_queue_depth counts ready + unacked, as KEDA does.
    const management = env.RABBITMQ_MANAGEMENT_URL ? { url: env.RABBITMQ_MANAGEMENT_URL } : undefined;
    return new RabbitMqTransport({
      url: env.AMQP_URL,
      logger,
      management,
      connectTimeoutMs: connectTimeoutMs(env),
    });
  }
  if (env.SERVICEBUS_CONNECTION_STRING) return serviceBusTransport(env, logger);
  return new InMemoryTransport();
}

/**
 * Azure Service Bus from SERVICEBUS_CONNECTION_STRING (its key is never logged). The administration
 * client trusts NODE_EXTRA_CA_CERTS, which `npm run servicebus:standin` prints for its test CA.
 */
async function serviceBusTransport(env: NodeJS.ProcessEnv, logger: Logger): Promise<Transport> {
  const { AzureServiceBusTransport } = await import('@sluice/azure-service-bus');
  return new AzureServiceBusTransport({ connectionString: env.SERVICEBUS_CONNECTION_STRING, logger });
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
    return new RabbitMqTransport({
      url: env.AMQP_URL,
      logger,
      connectionName: 'orders-outbox-relay',
      connectTimeoutMs: connectTimeoutMs(env),
    });
  }
  if (env.SERVICEBUS_CONNECTION_STRING) return serviceBusTransport(env, logger);
  return new InMemoryTransport({ broker: (host as InMemoryTransport).broker });
}
