/**
 * The transport conformance suite. Every transport runs it; the in-memory transport (the reference)
 * runs it in every CI run. Cases that need an optional capability run only where the transport
 * declares it, and cases that need a broker fault only where the test gives a hook for it.
 */
import { randomUUID } from 'node:crypto';
import {
  ErrorCodes,
  Headers,
  readFault,
  type Delivery,
  type EndpointSpec,
  type Fault,
  type OutgoingMessage,
  type Subscription,
  type Transport,
} from '@sluice/core';
import { afterEach, describe, expect, it } from 'vitest';
import { DeliveryCollector } from './delivery-collector.js';
import { ChangeSignal } from './signal.js';

export interface ConformanceOptions {
  /** A new client of the same broker on every call (some tests open two, like two processes). */
  createTransport(): Transport | Promise<Transport>;
  /** Deletes what a test declared: its queues (with their dead-letter and retry queues) and topics. */
  cleanup?(declared: {
    readonly queues: readonly string[];
    readonly topics: readonly string[];
  }): Promise<void>;
  /** Multiplies every wait, for slow brokers. Default 1. */
  readonly timeScale?: number;
  /**
   * Broker faults the suite may cause, where the test can cause them (RabbitMQ: close the vhost's
   * connections; Service Bus: the stand-in's hooks). A case whose hook is missing is skipped, saying so.
   */
  readonly faults?: {
    /** Breaks every client connection to the broker now, as a network fault or an operator would. */
    dropConnections?(): Promise<void>;
    /** Ends the locks held on the deliveries of `queue` now, as if they had run out. */
    expireLocks?(queue: string): Promise<void>;
  };
}

interface Fixture {
  open(): Promise<Transport>;
  names(): { queue: string; topic: string };
  subscribe(
    transport: Transport,
    spec: Partial<EndpointSpec> & { queue: string },
    collector: DeliveryCollector,
  ): Promise<Subscription>;
}

/** A body with every byte value, then pseudo-random bytes: any re-encoding would change it. */
function binaryBody(size: number): Uint8Array {
  const body = new Uint8Array(size);
  let x = 0x12345678;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    body[i] = i < 256 ? i : x >>> 24;
  }
  return body;
}

function message(topic: string, overrides: Partial<OutgoingMessage> = {}): OutgoingMessage {
  return {
    messageId: randomUUID(),
    type: 'conformance.test-message.v1',
    contentType: 'application/octet-stream',
    correlationId: randomUUID(),
    causationId: randomUUID(),
    sentAt: new Date(),
    headers: { 'x-test': 'yes' },
    body: new TextEncoder().encode(`{"n":1}`),
    destination: { topic },
    mandatory: true,
    ...overrides,
  };
}

/** Resolvable from outside; holds deliveries unsettled until a test lets them go. */
function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

export function describeTransportConformance(name: string, options: ConformanceOptions): void {
  const scale = options.timeScale ?? 1;
  const t = (ms: number) => Math.round(ms * scale);

  describe(`transport conformance: ${name}`, () => {
    let opened: Transport[] = [];
    let declared = { queues: [] as string[], topics: [] as string[] };

    afterEach(async () => {
      await Promise.all(opened.map((transport) => transport.close()));
      await options.cleanup?.(declared);
      opened = [];
      declared = { queues: [], topics: [] };
    });

    const fx: Fixture = {
      async open() {
        const transport = await options.createTransport();
        opened.push(transport);
        await transport.connect();
        return transport;
      },
      names() {
        const id = randomUUID().slice(0, 8);
        const names = { queue: `conformance.${id}`, topic: `conformance.topic-${id}.v1` };
        declared.queues.push(names.queue);
        declared.topics.push(names.topic);
        return names;
      },
      subscribe(transport, spec, collector) {
        return transport.subscribe(
          { topics: [], prefetch: 10, retryDelaysMs: [], ...spec },
          collector.handler,
        );
      },
    };

    it('delivers a published message with its envelope', async () => {
      const transport = await fx.open();
      const { queue, topic } = fx.names();
      const collector = new DeliveryCollector();
      await fx.subscribe(transport, { queue, topics: [topic] }, collector);
      const sent = message(topic);
      await transport.publish([sent]);
      const [delivery] = (await collector.waitForCount(1, t(5_000))) as [Delivery];
      expect(delivery.queue).toBe(queue);
      expect(delivery.attempt).toBe(1);
      const received = delivery.message;
      expect(received.messageId).toBe(sent.messageId);
      expect(received.type).toBe(sent.type);
      expect(received.contentType).toBe(sent.contentType);
      expect(received.correlationId).toBe(sent.correlationId);
      expect(received.causationId).toBe(sent.causationId);
      expect(received.sentAt.getTime()).toBe(sent.sentAt.getTime());
    });

    it('round-trips body bytes and headers exactly', async () => {
      const transport = await fx.open();
      const { queue, topic } = fx.names();
      const collector = new DeliveryCollector();
      await fx.subscribe(transport, { queue, topics: [topic] }, collector);
      const body = binaryBody(64 * 1024);
      const headers = {
        'x-unicode': 'zürich ☃ 東京 🚀',
        'x-empty': '',
        'x-quotes': `"quoted" 'single' \\ back`,
        'x-long': 'x'.repeat(2_000),
        'x-numeric-looking': '0012',
      };
      await transport.publish([message(topic, { body, headers })]);
      const [delivery] = (await collector.waitForCount(1, t(5_000))) as [Delivery];
      expect(Buffer.from(delivery.message.body).equals(Buffer.from(body))).toBe(true);
      expect(delivery.message.headers).toEqual(headers);
    });

    it('shares a queue between competing consumers, each message to exactly one', async () => {
      const [a, b] = [await fx.open(), await fx.open()];
      const { queue, topic } = fx.names();
      const changed = new ChangeSignal();
      const first = new DeliveryCollector(undefined, changed);
      const second = new DeliveryCollector(undefined, changed);
      await fx.subscribe(a, { queue, topics: [topic], prefetch: 1 }, first);
      await fx.subscribe(b, { queue, topics: [topic], prefetch: 1 }, second);
      const sent = Array.from({ length: 40 }, () => message(topic));
      await a.publish(sent);
      const all = () => [...first.deliveries, ...second.deliveries];
      await changed.until(() => (all().length >= 40 ? true : undefined), t(10_000), '40 deliveries in all');
      const ids = all().map((d) => d.message.messageId);
      expect(new Set(ids).size).toBe(40);
      expect(ids.sort()).toEqual(sent.map((m) => m.messageId).sort());
      expect(first.deliveries.length).toBeGreaterThan(0);
      expect(second.deliveries.length).toBeGreaterThan(0);
    });

    it('fans a topic out to every bound queue', async () => {
      const transport = await fx.open();
      const one = fx.names();
      const other = fx.names();
      const collectors = [new DeliveryCollector(), new DeliveryCollector()] as const;
      await fx.subscribe(transport, { queue: one.queue, topics: [one.topic] }, collectors[0]);
      await fx.subscribe(transport, { queue: other.queue, topics: [one.topic] }, collectors[1]);
      const sent = Array.from({ length: 5 }, () => message(one.topic));
      await transport.publish(sent);
      const order = (ids: string[]) => (transport.capabilities.ordered ? ids : ids.sort());
      for (const collector of collectors) {
        const got = await collector.waitForCount(5, t(5_000));
        expect(order(got.map((d) => d.message.messageId))).toEqual(order(sent.map((m) => m.messageId)));
      }
    });

    it('refuses publish and subscribe before connect, saying it is not connected yet', async () => {
      const transport = await options.createTransport();
      opened.push(transport);
      const { queue, topic } = fx.names();
      const notConnected = { code: ErrorCodes.CLOSED, message: expect.stringMatching(/not connected yet/) };
      await expect(transport.publish([message(topic)])).rejects.toMatchObject(notConnected);
      await expect(
        fx.subscribe(transport, { queue, topics: [topic] }, new DeliveryCollector()),
      ).rejects.toMatchObject(notConnected);
    });

    it('rejects an unroutable mandatory message and accepts a non-mandatory one', async () => {
      const transport = await fx.open();
      const { topic } = fx.names();
      await expect(transport.publish([message(topic)])).rejects.toMatchObject({
        code: ErrorCodes.UNROUTABLE,
      });
      await expect(transport.publish([message(topic, { mandatory: false })])).resolves.toBeUndefined();
    });

    it('keeps a message sent with a consumer queue before anyone subscribed, for the consumer that starts later', async () => {
      const { queue, topic } = fx.names();
      // The sender only publishes, as an HTTP API does; its consumer has never run.
      const sender = await fx.open();
      const caps = sender.capabilities;
      const queueOptions = {
        ...(caps.maxLength ? { maxLength: 50 } : {}),
        ...(caps.messageTtl ? { messageTtlMs: 600_000 } : {}),
      };
      const consumerQueue = { queue, options: queueOptions };
      const early = message(topic, { destination: { topic, consumerQueue } });
      await sender.publish([early]);
      const consumer = await fx.open();
      const collector = new DeliveryCollector();
      // The consumer declares the queue with the same settings: no conflict with the sender's.
      await fx.subscribe(consumer, { queue, topics: [topic], options: queueOptions }, collector);
      const late = message(topic, { destination: { topic, consumerQueue } });
      await sender.publish([late]);
      const got = await collector.waitForCount(2, t(5_000));
      expect(got.map((d) => d.message.messageId).sort()).toEqual([early.messageId, late.messageId].sort());
    });

    it('redelivers after retry() with the attempt count increased', async () => {
      const transport = await fx.open();
      const { queue, topic } = fx.names();
      const collector = new DeliveryCollector((d) => (d.attempt < 3 ? d.retry(0) : d.ack()));
      await fx.subscribe(transport, { queue, topics: [topic], retryDelaysMs: [0] }, collector);
      const sent = message(topic);
      await transport.publish([sent]);
      const deliveries = await collector.waitForCount(3, t(10_000));
      expect(deliveries.map((d) => d.attempt)).toEqual([1, 2, 3]);
      for (const d of deliveries) {
        expect(d.message.messageId).toBe(sent.messageId);
        expect(Buffer.from(d.message.body).equals(Buffer.from(sent.body))).toBe(true);
        expect(d.message.headers).toEqual(sent.headers);
      }
    });

    it('honours the retry delay', async ({ skip }) => {
      const transport = await fx.open();
      if (!transport.capabilities.delayedRedelivery) skip('transport has no delayed redelivery');
      const { queue, topic } = fx.names();
      const delayMs = 600;
      const arrivals: number[] = [];
      const collector = new DeliveryCollector((d) => {
        arrivals.push(performance.now());
        return d.attempt === 1 ? d.retry(delayMs) : d.ack();
      });
      await fx.subscribe(transport, { queue, topics: [topic], retryDelaysMs: [delayMs] }, collector);
      await transport.publish([message(topic)]);
      await collector.waitForCount(2, t(10_000));
      const gap = (arrivals[1] as number) - (arrivals[0] as number);
      expect(gap).toBeGreaterThanOrEqual(delayMs - 50);
      expect(gap).toBeLessThan(delayMs + t(1_500));
    });

    it('dead-letters with fault headers, leaving body and headers intact', async () => {
      const transport = await fx.open();
      const { queue, topic } = fx.names();
      const fault: Fault = {
        reason: 'max-attempts',
        errorType: 'TypeError',
        errorCode: 'E_TEST',
        errorMessage: 'boom ☃',
        stack: 'TypeError: boom\n    at test (conformance.ts:1:1)',
        attempts: 1,
        consumer: 'ConformanceConsumer',
        queue,
        time: new Date('2026-01-02T03:04:05.678Z'),
      };
      const work = new DeliveryCollector((d) => d.deadLetter(fault));
      await fx.subscribe(transport, { queue, topics: [topic] }, work);
      const sent = message(topic, { body: binaryBody(1_000) });
      await transport.publish([sent]);
      const dead = new DeliveryCollector();
      await fx.subscribe(transport, { queue: transport.deadLetterQueue(queue) }, dead);
      const [copy] = (await dead.waitForCount(1, t(5_000))) as [Delivery];
      expect(copy.message.messageId).toBe(sent.messageId);
      expect(copy.message.type).toBe(sent.type);
      expect(Buffer.from(copy.message.body).equals(Buffer.from(sent.body))).toBe(true);
      expect(copy.message.headers).toMatchObject(sent.headers);
      expect(readFault(copy.message.headers)).toEqual(fault);
      expect(work.deliveries).toHaveLength(1);
    });

    it('replaces the fault headers of an earlier dead-lettering', async () => {
      const transport = await fx.open();
      const { queue, topic } = fx.names();
      const fault: Fault = {
        reason: 'unrecoverable',
        errorType: 'UnrecoverableError',
        errorMessage: 'second failure',
        attempts: 1,
        consumer: 'ConformanceConsumer',
        queue,
        time: new Date('2026-02-03T04:05:06.789Z'),
      };
      await fx.subscribe(
        transport,
        { queue, topics: [topic] },
        new DeliveryCollector((d) => d.deadLetter(fault)),
      );
      const dead = new DeliveryCollector();
      await fx.subscribe(transport, { queue: transport.deadLetterQueue(queue) }, dead);
      // A replayed dead letter that carries the fault of its first failure, fields the new one lacks included.
      const stale = {
        [Headers.faultReason]: 'max-attempts',
        [Headers.faultErrorCode]: 'E_FIRST',
        [Headers.faultStack]: 'Error: first\n    at first (first.ts:1:1)',
        [Headers.faultTraceparent]: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        'x-test': 'kept',
      };
      await transport.publish([message(topic, { headers: stale })]);
      const [copy] = (await dead.waitForCount(1, t(5_000))) as [Delivery];
      expect(readFault(copy.message.headers)).toEqual(fault);
      expect(copy.message.headers['x-test']).toBe('kept');
    });

    it('fans out to the bound queues with room and rejects the publish a full queue refused', async ({
      skip,
    }) => {
      const transport = await fx.open();
      if (!transport.capabilities.maxLength) skip('transport has no queue max length');
      const full = fx.names();
      const roomy = fx.names();
      const maxLength = 2;
      const closed = await fx.subscribe(
        transport,
        { queue: full.queue, topics: [full.topic], options: { maxLength } },
        new DeliveryCollector(),
      );
      await closed.close();
      const collector = new DeliveryCollector();
      await fx.subscribe(transport, { queue: roomy.queue, topics: [full.topic] }, collector);
      // Some brokers take one message past the limit before refusing: publish until one is refused.
      const sent: OutgoingMessage[] = [];
      let refused: unknown;
      while (refused === undefined && sent.length < maxLength + 5) {
        const next = message(full.topic);
        sent.push(next);
        refused = await transport.publish([next]).then(
          () => undefined,
          (error: unknown) => error,
        );
      }
      expect(refused).toMatchObject({ code: ErrorCodes.QUEUE_FULL });
      const got = await collector.waitForCount(sent.length, t(5_000));
      expect(got.map((d) => d.message.messageId).sort()).toEqual(sent.map((m) => m.messageId).sort());
      await expect.poll(() => transport.queueDepth(full.queue), { timeout: t(5_000) }).toBe(sent.length - 1);
    });

    it('returns a released message to the queue without counting an attempt', async () => {
      const transport = await fx.open();
      const { queue, topic } = fx.names();
      let released = false;
      const collector = new DeliveryCollector((d) => {
        if (released) return d.ack();
        released = true;
        return d.release();
      });
      await fx.subscribe(transport, { queue, topics: [topic] }, collector);
      await transport.publish([message(topic)]);
      const [first, second] = (await collector.waitForCount(2, t(5_000))) as [Delivery, Delivery];
      expect(second.message.messageId).toBe(first.message.messageId);
      expect(second.attempt).toBe(first.attempt);
    });

    it('never exceeds prefetch', async () => {
      const transport = await fx.open();
      const { queue, topic } = fx.names();
      const held = gate();
      const collector = new DeliveryCollector(async (d) => {
        await held.promise;
        await d.ack();
      });
      await fx.subscribe(transport, { queue, topics: [topic], prefetch: 3 }, collector);
      await transport.publish(Array.from({ length: 12 }, () => message(topic)));
      await collector.waitForCount(3, t(5_000));
      // Give an over-eager transport the chance to push a fourth delivery before asserting it did not.
      await new Promise((resolve) => setTimeout(resolve, t(300)));
      expect(collector.deliveries).toHaveLength(3);
      held.open();
      await collector.waitForCount(12, t(5_000));
      expect(collector.peakUnsettled).toBe(3);
    });

    it('pauses and resumes a subscription', async () => {
      const transport = await fx.open();
      const { queue, topic } = fx.names();
      const collector = new DeliveryCollector();
      const subscription = await fx.subscribe(transport, { queue, topics: [topic] }, collector);
      await subscription.pause();
      await subscription.pause();
      await transport.publish([message(topic)]);
      await new Promise((resolve) => setTimeout(resolve, t(300)));
      expect(collector.deliveries).toHaveLength(0);
      await subscription.resume();
      await collector.waitForCount(1, t(5_000));
    });

    it('reports queue depth of ready messages', async () => {
      const transport = await fx.open();
      const { queue, topic } = fx.names();
      const subscription = await fx.subscribe(transport, { queue, topics: [topic] }, new DeliveryCollector());
      await subscription.close();
      await transport.publish(Array.from({ length: 7 }, () => message(topic)));
      await expect.poll(() => transport.queueDepth(queue), { timeout: t(5_000) }).toBe(7);
    });

    /**
     * Holds one delivery unsettled on `transport`; after `close` is run, lets it settle (which must
     * reject with `SLUICE_CLOSED`) and checks that a new client receives the message again.
     */
    async function closeWithDeliveryInFlight(close: (transport: Transport) => Promise<void>) {
      const first = await fx.open();
      const { queue, topic } = fx.names();
      const held = gate();
      let lateSettlement: Promise<void> | undefined;
      const stuck = new DeliveryCollector(async (d) => {
        await held.promise;
        lateSettlement = d.ack();
        await lateSettlement.catch(() => undefined);
      });
      await fx.subscribe(first, { queue, topics: [topic], prefetch: 1 }, stuck);
      const sent = message(topic);
      await first.publish([sent]);
      await stuck.waitForCount(1, t(5_000));
      await close(first);
      expect(first.isConnected()).toBe(false);
      held.open();
      await stuck.waitFor(() => lateSettlement !== undefined, t(5_000), 'the late settlement');
      await expect(lateSettlement).rejects.toMatchObject({ code: ErrorCodes.CLOSED });

      const second = await fx.open();
      const rescued = new DeliveryCollector();
      await fx.subscribe(second, { queue, topics: [topic], prefetch: 100 }, rescued);
      await rescued.waitFor(
        () => rescued.deliveries.some((d) => d.message.messageId === sent.messageId),
        t(10_000),
        'the delivery that was in flight at close',
      );
      if (second.capabilities.brokerDeliveryCount) {
        const again = rescued.deliveries.find((d) => d.message.messageId === sent.messageId);
        expect(again?.attempt).toBe(2);
      }
    }

    it('closes idempotently with handlers in flight, losing nothing', async () => {
      await closeWithDeliveryInFlight(async (transport) => {
        await Promise.all([transport.close(), transport.close()]);
        await transport.close();
      });
    });

    it('closes at once when its signal has aborted, settling every pending publish and losing no delivery', async () => {
      await closeWithDeliveryInFlight(async (transport) => {
        const other = fx.names();
        await fx.subscribe(transport, { queue: other.queue, topics: [other.topic] }, new DeliveryCollector());
        const pending = Array.from({ length: 50 }, () =>
          transport.publish([message(other.topic)]).then(
            () => 'accepted',
            (error: unknown) => (error as { code?: unknown }).code,
          ),
        );
        const started = performance.now();
        await transport.close(AbortSignal.abort());
        expect(performance.now() - started).toBeLessThan(t(2_000));
        for (const outcome of await Promise.all(pending)) {
          expect(['accepted', ErrorCodes.CLOSED]).toContain(outcome);
        }
      });
    });

    it('flushes pending publishes on close', async () => {
      const producer = await fx.open();
      const consumer = await fx.open();
      const { queue, topic } = fx.names();
      const collector = new DeliveryCollector();
      await fx.subscribe(consumer, { queue, topics: [topic], prefetch: 50 }, collector);
      const sent = Array.from({ length: 200 }, () => message(topic));
      const pending = sent.map((m) => producer.publish([m]));
      await producer.close();
      await expect(Promise.all(pending)).resolves.toBeDefined();
      const got = await collector.waitForCount(200, t(10_000));
      expect(new Set(got.map((d) => d.message.messageId)).size).toBe(200);
    });

    it('delivers a scheduled message no earlier than its time', async ({ skip }) => {
      const transport = await fx.open();
      if (!transport.capabilities.scheduledSend) skip('transport cannot schedule');
      const { queue, topic } = fx.names();
      const collector = new DeliveryCollector();
      await fx.subscribe(transport, { queue, topics: [topic] }, collector);
      const start = Date.now();
      await transport.publish([message(topic, { notBefore: new Date(start + 500) })]);
      await collector.waitForCount(1, t(10_000));
      expect(Date.now() - start).toBeGreaterThanOrEqual(490);
    });

    it('dead-letters a message whose TTL passed before it was consumed', async ({ skip }) => {
      const transport = await fx.open();
      if (!transport.capabilities.messageTtl) skip('transport has no message TTL');
      const { queue, topic } = fx.names();
      const work = new DeliveryCollector();
      const subscription = await fx.subscribe(transport, { queue, topics: [topic] }, work);
      await subscription.pause();
      const sent = message(topic, { ttlMs: 100 });
      await transport.publish([sent]);
      await new Promise((resolve) => setTimeout(resolve, 250));
      await subscription.resume();
      const dead = new DeliveryCollector();
      await fx.subscribe(transport, { queue: transport.deadLetterQueue(queue) }, dead);
      const [copy] = (await dead.waitForCount(1, t(5_000))) as [Delivery];
      expect(copy.message.messageId).toBe(sent.messageId);
      expect(work.deliveries).toHaveLength(0);
    });

    it('settles once: the first settlement wins and later ones resolve without effect', async () => {
      const transport = await fx.open();
      const { queue, topic } = fx.names();
      const fault: Fault = {
        reason: 'unrecoverable',
        errorType: 'UnrecoverableError',
        errorMessage: 'must not be dead-lettered',
        attempts: 1,
        consumer: 'ConformanceConsumer',
        queue,
        time: new Date(),
      };
      const acked = message(topic);
      const retried = message(topic);
      const later: Promise<void>[] = [];
      const collector = new DeliveryCollector(async (d) => {
        if (d.message.messageId === acked.messageId) {
          await d.ack();
          later.push(d.retry(0), d.deadLetter(fault), d.release(), d.ack());
        } else if (d.attempt === 1) {
          await d.retry(0);
          later.push(d.ack(), d.deadLetter(fault));
        } else {
          await d.ack();
        }
      });
      await fx.subscribe(transport, { queue, topics: [topic], retryDelaysMs: [0] }, collector);
      const dead = new DeliveryCollector();
      await fx.subscribe(transport, { queue: transport.deadLetterQueue(queue) }, dead);
      await transport.publish([acked, retried]);
      await collector.waitFor(
        (ds) => ds.some((d) => d.message.messageId === retried.messageId && d.attempt === 2),
        t(10_000),
        'the retried message again',
      );
      await collector.waitFor(() => later.length === 6, t(5_000), 'the later settlement calls');
      await expect(Promise.all(later)).resolves.toHaveLength(6);
      // A settlement that wrongly took effect would have redelivered or dead-lettered by now, or soon.
      await new Promise((resolve) => setTimeout(resolve, t(300)));
      const ids = collector.deliveries.map((d) => `${d.message.messageId}:${d.attempt}`).sort();
      expect(ids).toEqual(
        [`${acked.messageId}:1`, `${retried.messageId}:1`, `${retried.messageId}:2`].sort(),
      );
      expect(dead.deliveries).toHaveLength(0);
    });

    it('closes a subscription with deliveries in flight: they still settle, nothing new arrives', async () => {
      const transport = await fx.open();
      const { queue, topic } = fx.names();
      const held = gate();
      const settlements: Promise<void>[] = [];
      const first = new DeliveryCollector(async (d) => {
        await held.promise;
        const acked = d.ack();
        settlements.push(acked);
        await acked;
      });
      const subscription = await fx.subscribe(transport, { queue, topics: [topic], prefetch: 2 }, first);
      const sent = Array.from({ length: 6 }, () => message(topic));
      await transport.publish(sent);
      await first.waitForCount(2, t(5_000));
      await subscription.close();
      await subscription.close();
      held.open();
      await first.waitFor(() => settlements.length === 2, t(5_000), 'both settlements');
      await expect(Promise.all(settlements)).resolves.toHaveLength(2);
      const rest = new DeliveryCollector();
      await fx.subscribe(transport, { queue, topics: [topic], prefetch: 10 }, rest);
      await rest.waitForCount(4, t(10_000));
      // Give a subscription that still delivers after close the chance to show it.
      await new Promise((resolve) => setTimeout(resolve, t(300)));
      expect(first.deliveries).toHaveLength(2);
      const seen = [...first.deliveries, ...rest.deliveries].map((d) => d.message.messageId);
      expect(seen.sort()).toEqual(sent.map((m) => m.messageId).sort());
    });

    it('filters on the broker: a message that fails the filter never reaches the queue', async ({ skip }) => {
      const transport = await fx.open();
      if (!transport.capabilities.brokerFilters) skip('transport does not filter on the broker');
      const { queue, topic } = fx.names();
      const collector = new DeliveryCollector();
      const filter = {
        all: [
          { property: 'amount', gt: 1000 },
          { property: 'tier', in: ['gold', 'vip'] },
        ],
      };
      await fx.subscribe(transport, { queue, topics: [topic], filter }, collector);
      const withHeaders = (headers: Record<string, string>) => message(topic, { headers, mandatory: false });
      const wanted = [
        withHeaders({ amount: '1500', tier: 'gold' }),
        withHeaders({ amount: '1000.5', tier: 'vip' }),
      ];
      const unwanted = [
        withHeaders({ amount: '1000', tier: 'gold' }),
        withHeaders({ amount: '99999', tier: 'bronze' }),
        withHeaders({ tier: 'vip' }),
        withHeaders({ amount: 'lots', tier: 'gold' }),
      ];
      await transport.publish([...unwanted, ...wanted]);
      await collector.waitForCount(2, t(5_000));
      await new Promise((resolve) => setTimeout(resolve, t(300)));
      expect(collector.deliveries.map((d) => d.message.messageId).sort()).toEqual(
        wanted.map((m) => m.messageId).sort(),
      );
      await expect.poll(() => transport.queueDepth(queue), { timeout: t(5_000) }).toBe(0);
    });

    it('loses nothing when the broker connection drops mid-stream', async ({ skip }) => {
      const dropConnections = options.faults?.dropConnections;
      if (dropConnections === undefined) return skip('no connection fault hook for this transport');
      const transport = await fx.open();
      const { queue, topic } = fx.names();
      const collector = new DeliveryCollector();
      await fx.subscribe(transport, { queue, topics: [topic], prefetch: 20 }, collector);
      const sent = Array.from({ length: 400 }, () => message(topic));
      for (let i = 0; i < sent.length; i += 100) await transport.publish(sent.slice(i, i + 100));
      await collector.waitForCount(100, t(20_000));
      await dropConnections();
      const expected = new Set(sent.map((m) => m.messageId));
      await collector.waitFor(
        (ds) => new Set(ds.map((d) => d.message.messageId)).size === expected.size,
        t(60_000),
        `all ${expected.size} messages after the drop`,
      );
      expect(new Set(collector.deliveries.map((d) => d.message.messageId))).toEqual(expected);
      await expect.poll(() => transport.isConnected(), { timeout: t(20_000) }).toBe(true);
    });

    it('aborts the signal of a delivery whose lock was lost, refuses its settlement and redelivers it', async ({
      skip,
    }) => {
      const expireLocks = options.faults?.expireLocks;
      const transport = await fx.open();
      if (!transport.capabilities.locks) skip('transport holds no locks');
      if (expireLocks === undefined) return skip('no lock fault hook for this transport');
      const { queue, topic } = fx.names();
      const changed = new ChangeSignal();
      const held = gate();
      let settlement: Promise<void> | undefined;
      const collector = new DeliveryCollector(async (d) => {
        if (d.attempt > 1) return d.ack();
        d.signal?.addEventListener('abort', () => changed.notify());
        await held.promise;
        settlement = d.ack();
        await settlement.catch(() => undefined);
      }, changed);
      await fx.subscribe(transport, { queue, topics: [topic], prefetch: 1 }, collector);
      const sent = message(topic);
      await transport.publish([sent]);
      const [first] = (await collector.waitForCount(1, t(5_000))) as [Delivery];
      await expireLocks(queue);
      await changed.until(
        () => (first.signal?.aborted === true ? true : undefined),
        t(10_000),
        'the lock lost',
      );
      expect(first.signal?.reason).toMatchObject({ code: ErrorCodes.LOCK_LOST });
      held.open();
      const [, again] = (await collector.waitForCount(2, t(10_000))) as [Delivery, Delivery];
      expect(again.message.messageId).toBe(sent.messageId);
      expect(again.attempt).toBe(2);
      await expect(settlement).rejects.toMatchObject({ code: ErrorCodes.LOCK_LOST });
    });
  });
}
