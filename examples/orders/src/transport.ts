/** Picks the broker from the environment, so the same code runs embedded or on a real broker. */
import { InMemoryTransport, type Logger, type Transport } from '@sluice/core';

export async function createTransport(env: NodeJS.ProcessEnv, logger: Logger): Promise<Transport> {
  if (env.AMQP_URL) {
    const { RabbitMqTransport } = await import('@sluice/rabbitmq');
    return new RabbitMqTransport({ url: env.AMQP_URL, logger });
  }
  if (env.SERVICEBUS_CONNECTION_STRING) {
    throw new Error(
      'SERVICEBUS_CONNECTION_STRING is set, but this build has no Azure Service Bus transport yet',
    );
  }
  return new InMemoryTransport();
}
