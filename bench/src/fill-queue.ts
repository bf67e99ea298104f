/**
 * Fills a queue with a backlog, in a process of its own, so that a benchmark measuring its own memory
 * (`rss-backlog.js`) is not charged for the publishing: `node fill-queue.js <queue> <count> <type>`
 * puts `count` persistent 1 KiB JSON messages of `type` into `queue` (declared already) through the
 * default exchange, each confirmed, and exits 0 once all are.
 *
 * Environment: AMQP_URL (default amqp://guest:guest@127.0.0.1:5672).
 */
import { RawClient } from './rabbitmq-raw.js';

const [queue, count, type] = process.argv.slice(2);
if (queue === undefined || type === undefined || !(Number(count) > 0)) {
  throw new Error('usage: node fill-queue.js <queue> <count> <type>');
}
const note = 'x'.repeat(1024 - JSON.stringify({ id: 12345, note: '' }).length);
const raw = await RawClient.connect(
  process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
  'sluice-bench-fill',
);
await raw.fill(queue, Number(count), { id: 12345, note }, type);
await raw.close();
