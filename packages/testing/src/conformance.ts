/**
 * The transport conformance suite. Every transport runs it; the in-memory transport (the reference)
 * runs it in every CI run. Tests that need an optional capability run only where the transport
 * declares it.
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
      for (const collector of collectors) {
        const got = await collector.waitForCount(5, t(5_000));
        expect(got.map((d) => d.message.messageId)).toEqual(sent.map((m) => m.messageId));
      }
    });

    it('rejects an unroutable mandatory message and accepts a non-mandatory one', async () => {
      const transport = await fx.open();
      const { topic } = fx.names();
      await expect(transport.publish([message(topic)])).rejects.toMatchObject({
        code: ErrorCodes.UNROUTABLE,
      });
      await expect(transport.publish([message(topic, { mandatory: false })])).resolves.toBeUndefined();
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

    it('fans out to the bound queues with room and rejects the publish a full queue refused', async () => {
      const transport = await fx.open();
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
  });
}
