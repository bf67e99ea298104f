/** `sluice dlq` on RabbitMQ: @sluice/rabbitmq's `DeadLetters` behind the `DeadLetterSource` contract. */
import { DeadLetters } from '@sluice/rabbitmq';
import type { DeadLetterSource } from './dead-letter-source.js';

/**
 * The RabbitMQ source for `--url` (else `AMQP_URL`, else `DeadLetters`' local default, which the
 * source then says it fell back to). A bad URL throws `SLUICE_INVALID_OPTION` naming it, without its
 * password.
 */
export function rabbitMqSource(url: string | undefined, env: NodeJS.ProcessEnv): DeadLetterSource {
  const chosen = url ?? env.AMQP_URL;
  const tool = new DeadLetters({ url: chosen });
  const { host, port, vhost, user } = tool.broker;
  return {
    location: `RabbitMQ ${host.includes(':') ? `[${host}]` : host}:${port}, vhost "${vhost}", user ${user}`,
    defaultNotice:
      chosen === undefined
        ? 'neither --url nor AMQP_URL is set, so this is the default local broker; point sluice dlq elsewhere with --url amqp://user:password@host:port/vhost or AMQP_URL'
        : undefined,
    deadLetterQueueOf: (queue) => DeadLetters.queueOf(queue),
    list: (queue, limit) => tool.list(queue, { limit }),
    inspect: (queue, messageId) => tool.inspect(queue, messageId),
    replay: (queue, selection) => tool.replay(queue, selection),
    close: () => tool.close(),
  };
}
