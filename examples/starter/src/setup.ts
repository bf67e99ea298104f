/** What every entry point shares: the transport from the environment and the logger. */
import { InMemoryTransport, stderrLogger, type Transport } from '@sluice/core';
import { RabbitMqTransport } from '@sluice/rabbitmq';

export const logger = stderrLogger('info');

/** RabbitMQ when AMQP_URL is set, else the in-memory transport (one process only). */
export function transportFromEnv(): Transport {
  const url = process.env.AMQP_URL;
  return url === undefined ? new InMemoryTransport() : new RabbitMqTransport({ url, logger });
}
