/**
 * The peers of the RabbitMQ benchmark, each used as its README shows: amqp-connection-manager
 * (amqplib behind a reconnecting, confirming channel wrapper), rascal (configuration-driven, confirm
 * channel pool) and rabbitmq-client (its own AMQP codec). Like the raw amqplib baseline, each consumes
 * with a prefetch, parses each body (rascal and rabbitmq-client do so themselves for JSON) and acks
 * each message, and publishes persistent 1 KiB JSON messages with a fresh message id to a queue
 * through the default exchange, resolving on the broker's confirm.
 */
import { randomUUID } from 'node:crypto';
import amqpConnectionManager from 'amqp-connection-manager';
import rascal from 'rascal';
import { Connection } from 'rabbitmq-client';
import type { ConsumeMessage } from 'amqplib';
import type { ConsumeWindow } from './rabbitmq-measure.js';

/** A connected publisher: `publish` sends one message and resolves on its confirm. */
export interface PeerPublisher {
  publish(): Promise<void>;
  close(): Promise<void>;
}

/** One client library under test. */
export interface Peer {
  readonly name: string;
  /** Consumes `count` messages from `queue`, marking the first and the last on `window`. */
  consume(queue: string, count: number, prefetch: number, window: ConsumeWindow): Promise<void>;
  /** A publisher to `queue` of messages of `type` carrying `payload`. */
  publisher(queue: string, type: string, payload: unknown): Promise<PeerPublisher>;
}

/** Counts handled messages onto `window`; returns the function to call after each one. */
function counter(count: number, window: ConsumeWindow): () => void {
  let handled = 0;
  return () => {
    if (handled === 0) window.first();
    if (++handled === count) window.last();
  };
}

const connectionName = (peer: string) => `sluice-bench-${peer}`;

function amqpConnectionManagerPeer(url: string): Peer {
  const connect = (peer: string) =>
    amqpConnectionManager.connect([url], {
      connectionOptions: { clientProperties: { connection_name: connectionName(peer) } },
    });
  return {
    name: 'amqp-connection-manager',
    async consume(queue, count, prefetch, window) {
      const connection = connect('acm-consumer');
      const channel = connection.createChannel({ json: false, confirm: false });
      await channel.waitForConnect();
      const handled = counter(count, window);
      await channel.consume(
        queue,
        (message: ConsumeMessage) => {
          JSON.parse(message.content.toString('utf8'));
          channel.ack(message);
          handled();
        },
        { prefetch },
      );
      await window.sample();
      await channel.close();
      await connection.close();
    },
    async publisher(queue, type, payload) {
      const connection = connect('acm-publisher');
      const channel = connection.createChannel({ json: false, confirm: true });
      await channel.waitForConnect();
      return {
        publish: async () => {
          await channel.sendToQueue(queue, Buffer.from(JSON.stringify(payload)), {
            messageId: randomUUID(),
            type,
            contentType: 'application/json',
            timestamp: Math.floor(Date.now() / 1000),
            persistent: true,
          });
        },
        close: async () => {
          await channel.close();
          await connection.close();
        },
      };
    },
  };
}

function rascalPeer(url: string): Peer {
  const broker = (queue: string, prefetch: number) =>
    rascal.BrokerAsPromised.create(
      rascal.withDefaultConfig({
        vhosts: {
          '/': {
            connection: { url },
            // The queue exists (declared by the benchmark); rascal only checks it.
            queues: { [queue]: { assert: false, check: true } },
            publications: { bench: { queue, confirm: true } },
            subscriptions: { bench: { queue, prefetch } },
          },
        },
      }),
    );
  return {
    name: 'rascal',
    async consume(queue, count, prefetch, window) {
      const client = await broker(queue, prefetch);
      const handled = counter(count, window);
      const subscription = await client.subscribe('bench');
      subscription.on('message', (_message, _content, ackOrNack) => {
        ackOrNack();
        handled();
      });
      await window.sample();
      await subscription.cancel();
      await client.shutdown();
    },
    async publisher(queue, type, payload) {
      const client = await broker(queue, 1);
      return {
        publish: async () => {
          const publication = await client.publish('bench', Buffer.from(JSON.stringify(payload)), {
            options: {
              messageId: randomUUID(),
              type,
              contentType: 'application/json',
              timestamp: Math.floor(Date.now() / 1000),
            },
          });
          await new Promise<void>((resolve, reject) => {
            publication.on('success', () => resolve());
            publication.on('error', reject);
          });
        },
        close: () => client.shutdown(),
      };
    },
  };
}

function rabbitmqClientPeer(url: string): Peer {
  const connect = async (peer: string) => {
    const connection = new Connection({ url, connectionName: connectionName(peer) });
    await connection.onConnect(20_000);
    return connection;
  };
  return {
    name: 'rabbitmq-client',
    async consume(queue, count, prefetch, window) {
      const connection = await connect('rabbitmq-client-consumer');
      const handled = counter(count, window);
      // The handler's return acks the message; the body arrives parsed (JSON content type). The
      // queue exists: a passive declaration only checks it.
      const consumer = connection.createConsumer(
        { queue, qos: { prefetchCount: prefetch }, queueOptions: { queue, passive: true } },
        () => {
          handled();
        },
      );
      await window.sample();
      await consumer.close();
      await connection.close();
    },
    async publisher(queue, type, payload) {
      const connection = await connect('rabbitmq-client-publisher');
      const publisher = connection.createPublisher({ confirm: true, maxAttempts: 1 });
      return {
        publish: () =>
          publisher.send(
            {
              routingKey: queue,
              messageId: randomUUID(),
              type,
              contentType: 'application/json',
              timestamp: Math.floor(Date.now() / 1000),
              durable: true,
            },
            Buffer.from(JSON.stringify(payload)),
          ),
        close: async () => {
          await publisher.close();
          await connection.close();
        },
      };
    },
  };
}

/** The peers, in the order of the benchmark's columns. */
export function peers(url: string): Peer[] {
  return [amqpConnectionManagerPeer(url), rascalPeer(url), rabbitmqClientPeer(url)];
}
