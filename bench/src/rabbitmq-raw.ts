/**
 * The raw amqplib baselines of the RabbitMQ benchmark, written as a careful amqplib user would: a
 * consumer with a prefetch that parses each body and acks each message, a confirm-channel publisher
 * that serialises each payload, gives each message a unique id and keeps a window of 1,000
 * unconfirmed messages (waiting for 'drain' when the channel buffer is full).
 */
import { randomUUID } from 'node:crypto';
import amqp, { type ChannelModel, type ConsumeMessage, type Options } from 'amqplib';
import { deferred, paced, type ConsumeWindow, type Sample } from './rabbitmq-measure.js';

export class RawClient {
  private constructor(private readonly connection: ChannelModel) {}

  static async connect(url: string, name: string): Promise<RawClient> {
    return new RawClient(await amqp.connect(url, { clientProperties: { connection_name: name } }));
  }

  /** Puts `count` messages with `payload` into `queue` (confirmed), for a consume run to drain. */
  async fill(queue: string, count: number, payload: unknown, type: string): Promise<void> {
    await this.publish('', queue, count, payload, {
      type,
      contentType: 'application/json',
      persistent: true,
    });
  }

  /**
   * Publishes `count` messages with `payload` (serialised per message) to `exchange` with routing key
   * `routingKey`, keeping at most `window` unconfirmed; resolves when all are confirmed.
   */
  async publish(
    exchange: string,
    routingKey: string,
    count: number,
    payload: unknown,
    properties: Options.Publish,
    {
      window = 1_000,
      sluiceHeaders = false,
    }: {
      /** Most messages unconfirmed at once. */
      readonly window?: number;
      /** Sets the correlation id and a send-time header per message, as Sluice's envelope does. */
      readonly sluiceHeaders?: boolean;
    } = {},
  ): Promise<void> {
    const channel = await this.connection.createConfirmChannel();
    let outstanding = 0;
    let failed: Error | undefined;
    let slot = deferred();
    let drained = deferred();
    channel.on('drain', () => drained.resolve());
    const confirmed = (error: unknown) => {
      outstanding--;
      if (error !== null && error !== undefined) failed = new Error('nacked');
      slot.resolve();
    };
    for (let i = 0; i < count; i++) {
      while (outstanding >= window) {
        await slot.promise;
        slot = deferred();
      }
      outstanding++;
      const body = Buffer.from(JSON.stringify(payload));
      const messageId = randomUUID();
      const now = Date.now();
      const options: Options.Publish = { ...properties, messageId, timestamp: Math.floor(now / 1000) };
      if (sluiceHeaders) {
        options.correlationId = messageId;
        options.headers = { 'sluice-sent-at': String(now) };
      }
      const writable = channel.publish(exchange, routingKey, body, options, confirmed);
      if (!writable) {
        await drained.promise;
        drained = deferred();
      }
    }
    await channel.waitForConfirms();
    await channel.close();
    if (failed !== undefined) throw failed;
  }

  /** Consumes `count` messages from `queue` (prefetch, JSON.parse, one ack each), timed by `window`. */
  async consume(queue: string, count: number, prefetch: number, window: ConsumeWindow): Promise<Sample> {
    const channel = await this.connection.createChannel();
    await channel.prefetch(prefetch);
    let handled = 0;
    await channel.consume(queue, (message: ConsumeMessage | null) => {
      if (message === null) return;
      if (handled === 0) window.first();
      JSON.parse(message.content.toString('utf8'));
      channel.ack(message);
      if (++handled === count) window.last();
    });
    const sample = await window.sample();
    await channel.close();
    return sample;
  }

  /**
   * Prepares a latency run: consumes `queue` (prefetch 100, JSON.parse and ack each) on this client and
   * opens a confirm channel on `publisherClient` (its own connection, as a producer and a consumer have
   * in practice); the returned function then publishes `count` pings to `exchange` at `perSecond`
   * (each stamped with the time it was sent) and resolves with each one's latency from publish to
   * consumer, in ms.
   */
  async prepareLatency(
    exchange: string,
    publisherClient: RawClient,
    queue: string,
    count: number,
    perSecond: number,
    pad: string,
  ): Promise<() => Promise<number[]>> {
    const consumer = await this.connection.createChannel();
    await consumer.prefetch(100);
    const latencies: number[] = [];
    const done = deferred();
    await consumer.consume(queue, (message: ConsumeMessage | null) => {
      if (message === null) return;
      const now = performance.now();
      const { t } = JSON.parse(message.content.toString('utf8')) as { t: number };
      latencies.push(now - t);
      consumer.ack(message);
      if (latencies.length === count) done.resolve();
    });
    const publisher = await publisherClient.connection.createConfirmChannel();
    return async () => {
      await paced(count, perSecond, () => {
        const body = Buffer.from(JSON.stringify({ t: performance.now(), pad }));
        publisher.publish(
          exchange,
          '',
          body,
          { messageId: randomUUID(), contentType: 'application/json', persistent: true },
          () => undefined,
        );
      });
      await done.promise;
      await publisher.waitForConfirms();
      await publisher.close();
      await consumer.close();
      return latencies;
    };
  }

  async purge(queue: string): Promise<void> {
    const channel = await this.connection.createChannel();
    await channel.purgeQueue(queue);
    await channel.close();
  }

  async delete(queues: readonly string[], exchanges: readonly string[]): Promise<void> {
    const channel = await this.connection.createChannel();
    for (const queue of queues) await channel.deleteQueue(queue);
    for (const exchange of exchanges) await channel.deleteExchange(exchange);
    await channel.close();
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}
