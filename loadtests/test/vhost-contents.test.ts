/**
 * Where a load run's vhost holds an order once the consumers are gone, while its messages still move:
 * a retry queue's message expires into its work queue between two reads.
 */
import { expect, it } from 'vitest';
import type { PeekedMessage, QueueDepth } from '../src/rabbitmq-management.js';
import { VhostContents } from '../src/vhost-contents.js';

/**
 * A vhost whose queues are listed as RabbitMQ lists them (by name, so the work queue before its retry
 * queue), holding one message of order `late` in the retry queue; that message expires into the
 * work queue right after the first queue read, whichever that is.
 */
function vhostWithExpiringRetry() {
  const contents: Record<string, string[]> = {
    payments: [],
    'payments.dlq': [],
    'payments.retry.1000ms': [JSON.stringify({ orderId: 'late' })],
  };
  let reads = 0;
  return {
    queues(): Promise<QueueDepth[]> {
      return Promise.resolve(
        Object.entries(contents).map(([name, messages]) => ({
          name,
          messages: messages.length,
          ready: messages.length,
          unacknowledged: 0,
        })),
      );
    },
    peek(_vhost: string, queue: string): Promise<PeekedMessage[]> {
      const messages = (contents[queue] ?? []).map((payload) => ({ payload, headers: {} }));
      if (reads++ === 0) contents.payments!.push(...contents['payments.retry.1000ms']!.splice(0));
      return Promise.resolve(messages);
    },
  };
}

it('finds an order whose message expires from its retry queue into the work queue between the reads', async () => {
  const contents = new VhostContents(vhostWithExpiringRetry(), 'v', 'amqp://guest:guest@127.0.0.1:5672/v');
  try {
    const located = await contents.locate(new Set(['late']));
    expect(located.complete).toBe(true);
    expect(located.queues.get('late')).toEqual(['payments.retry.1000ms', 'payments']);
  } finally {
    await contents.close();
  }
});
