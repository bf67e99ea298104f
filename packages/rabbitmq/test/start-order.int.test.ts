/**
 * Start-up order never matters on the real broker: a service that only sends (an HTTP API) can send a
 * command before its consumer ever ran, because the command's definition names its queue and the
 * sender declares it as the consumer will; a sender leaves a queue its consumer declared as it is;
 * and a host handles nothing before all its endpoints are attached, so an event a handler publishes
 * at start-up reaches the host's own subscription.
 */
import {
  Bus,
  Consumer,
  defineCommand,
  defineEvent,
  EventHandler,
  silentLogger,
  type HandlerClass,
  type MessageContext,
} from '@sluice/core';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { TestHarness } from '@sluice/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BrokerAdmin, TestVhost } from './support/broker.js';

let vhost: TestVhost;
const transports: RabbitMqTransport[] = [];
const harnesses: TestHarness[] = [];

beforeAll(async () => {
  vhost = await TestVhost.create('sluice-start-order');
});

afterAll(async () => {
  await Promise.all(harnesses.map((h) => h.host.stop()));
  await Promise.all(transports.map((t) => t.close()));
  await vhost.delete();
});

function transport(options: { queueType?: 'quorum' | 'classic' } = {}): RabbitMqTransport {
  const created = new RabbitMqTransport({ url: vhost.url, logger: silentLogger, ...options });
  transports.push(created);
  return created;
}

async function host(consumers: HandlerClass<never>[], options: { queueType?: 'quorum' | 'classic' } = {}) {
  const harness = await TestHarness.start({
    serviceName: 'start-order',
    transport: transport(options),
    consumers,
    logger: silentLogger,
  });
  harnesses.push(harness);
  return harness;
}

const Charge = defineCommand<{ n: number }>('startorder.charge.v1', {
  queue: 'startorder.payments',
  queueOptions: { maxLength: 1_000 },
});

@Consumer({ message: Charge, retry: { attempts: 3 } })
class ChargeConsumer {
  handle() {}
}

it('sends a command before its consumer ever ran; the consumer started later receives it', async () => {
  const sender = transport();
  await sender.connect();
  const api = new Bus(sender);
  await api.send(Charge, { n: 1 }, { messageId: 'before-consumer' });

  const admin = await BrokerAdmin.connect(vhost.url);
  try {
    expect(await admin.messageCount('startorder.payments')).toBe(1);
  } finally {
    await admin.close();
  }
  expect(await vhost.queueType('startorder.payments')).toBe('quorum');

  // The consumer declares the queue with the arguments the sender used: no PRECONDITION_FAILED.
  const consumer = await host([ChargeConsumer]);
  await consumer.waitFor({ messageId: 'before-consumer', outcome: 'handled' }, 10_000);
  await api.send(Charge, { n: 2 }, { messageId: 'after-consumer' });
  await consumer.waitFor({ messageId: 'after-consumer', outcome: 'handled' }, 10_000);
});

const Refund = defineCommand<{ n: number }>('startorder.refund.v1', { queue: 'startorder.refunds' });

@Consumer({ message: Refund })
class RefundConsumer {
  handle() {}
}

it('leaves a queue its consumer declared as it is, even when its own defaults differ', async () => {
  const consumer = await host([RefundConsumer], { queueType: 'classic' });
  expect(await vhost.queueType('startorder.refunds')).toBe('classic');
  // A sender whose transport defaults to quorum queues: it only binds what exists.
  const sender = transport({ queueType: 'quorum' });
  await sender.connect();
  await new Bus(sender).send(Refund, { n: 1 }, { messageId: 'refund-1' });
  await consumer.waitFor({ messageId: 'refund-1', outcome: 'handled' }, 10_000);
  expect(await vhost.queueType('startorder.refunds')).toBe('classic');
});

const Register = defineCommand<{ user: string }>('startorder.register.v1', {
  queue: 'startorder.registrations',
});
const Registered = defineEvent<{ user: string }>('startorder.registered.v1');

@Consumer({ message: Register, inject: [Bus] })
class RegisterConsumer {
  constructor(private readonly bus: Bus) {}
  async handle(command: { user: string }, ctx: MessageContext) {
    await this.bus.publish(Registered, command, { messageId: `registered-${ctx.messageId}` });
  }
}

@EventHandler(Registered, { subscription: 'welcome' })
class Welcome {
  handle() {}
}

it('handles nothing before every endpoint of the host is attached: an event published at start-up reaches its own subscription', async () => {
  // The first deploy: commands the API sent wait for a service that never ran, whose subscription
  // queue does not exist yet.
  const sender = transport();
  await sender.connect();
  const api = new Bus(sender);
  const users = Array.from({ length: 20 }, (_, i) => `user-${i}`);
  for (const user of users) await api.send(Register, { user }, { messageId: user });

  // The command consumer is attached first; the commands waiting for it are handled at once.
  const service = await host([RegisterConsumer, Welcome]);
  const welcomed = await service.waitForCount(
    { consumer: 'Welcome', outcome: 'handled' },
    users.length,
    10_000,
  );
  expect(welcomed.map((e) => e.messageId).sort()).toEqual(users.map((u) => `registered-${u}`).sort());
});
