/**
 * Option validation (a bad option throws SLUICE_INVALID_OPTION naming it) and secret redaction
 * (passwords never appear in errors or logs). No broker needed: the connection test uses a closed port.
 */
import { ErrorCodes, silentLogger, type EndpointSpec } from '@sluice/core';
import { RabbitMqTransport, redactUrl, type RabbitMqTransportOptions } from '@sluice/rabbitmq';
import { RecordingLogger } from '@sluice/testing';
import { describe, expect, it } from 'vitest';
import { Redactor } from '../src/redact.js';
import { resolveOptions } from '../src/resolve-options.js';
import { Topology } from '../src/topology.js';

const secret = 's3cret-Pa55word';

function expectInvalid(options: unknown, option: string): void {
  let thrown: unknown;
  try {
    new RabbitMqTransport(options as RabbitMqTransportOptions);
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `option ${option}`).toMatchObject({ code: ErrorCodes.INVALID_OPTION, name: 'SluiceError' });
  expect((thrown as Error).message).toContain(`option "${option}"`);
  expect((thrown as Error).message).not.toContain(secret);
}

describe('RabbitMqTransport options', () => {
  it.each<[string, Record<string, unknown>]>([
    ['url', { url: 'http://localhost:5672' }],
    ['url', { url: 'not a url' }],
    ['url', { url: `amqp://guest:${secret}@` }],
    ['url ?heartbeat', { url: `amqp://guest:${secret}@localhost/?heartbeat=soon` }],
    ['heartbeatSeconds', { heartbeatSeconds: -1 }],
    ['connectionName', { connectionName: '' }],
    ['confirmWindow', { confirmWindow: 0 }],
    ['confirmWindow', { confirmWindow: 1.5 }],
    ['publishTimeoutMs', { publishTimeoutMs: 0 }],
    ['connectTimeoutMs', { connectTimeoutMs: -1 }],
    ['reconnect.initialMs', { reconnect: { initialMs: 'soon' } }],
    ['reconnect.maxMs', { reconnect: { initialMs: 500, maxMs: 100 } }],
    ['reconnect.jitter', { reconnect: { jitter: 2 } }],
    ['reconnect.attempts', { reconnect: { attempts: 3 } }],
    ['queueType', { queueType: 'stream' }],
    ['exchanges', { exchanges: [] }],
    [
      'exchanges.orders.order-placed.v1.type',
      { exchanges: { 'orders.order-placed.v1': { type: 'x-delayed' } } },
    ],
    [
      'exchanges.orders.order-placed.v1.routingKey',
      { exchanges: { 'orders.order-placed.v1': { type: 'topic', routingKey: 'order.*' } } },
    ],
    ['persistent', { persistent: 'yes' }],
    ['noDelay', { noDelay: 1 }],
    ['coalesceAcks', { coalesceAcks: null }],
    ['management.url', { management: { url: 'ftp://localhost' } }],
    ['management.timeoutMs', { management: { url: 'http://localhost:15672', timeoutMs: 0 } }],
    ['logger', { logger: { info: () => undefined } }],
    ['tls', { url: 'amqp://localhost', tls: { rejectUnauthorized: false } }],
    ['tls.ca', { url: 'amqps://localhost', tls: { ca: 42 } }],
    ['tls.verify', { url: 'amqps://localhost', tls: { verify: true } }],
    ['prefetch', { prefetch: 10 }],
  ])('rejects a bad %s', (option, given) => {
    expectInvalid({ url: `amqp://guest:${secret}@localhost:5672`, ...given }, option);
  });

  it('accepts a complete valid configuration and reads the URL', () => {
    const resolved = resolveOptions({
      url: `amqps://app:${encodeURIComponent(`${secret}/@`)}@broker.example:5671/prod%2Forders?heartbeat=15&frameMax=8192`,
      tls: { ca: '-----BEGIN CERTIFICATE-----', rejectUnauthorized: true },
      confirmWindow: 500,
      queueType: 'classic',
      exchanges: { 'orders.order-placed.v1': { type: 'topic', routingKey: () => 'order.eu' } },
      management: { url: 'http://mgmt.example:15672' },
    });
    expect(resolved.connection.connect).toMatchObject({
      protocol: 'amqps',
      hostname: 'broker.example',
      port: 5671,
      username: 'app',
      password: `${secret}/@`,
      heartbeat: 15,
      frameMax: 8192,
    });
    expect(resolved.connection.vhost).toBe('prod/orders');
    expect(resolved.connection.displayUrl).not.toContain(secret);
    expect(resolved.connection.displayUrl).toContain('app:***@broker.example');
    expect(resolved.management?.authorization).toBe(
      `Basic ${Buffer.from(`app:${secret}/@`).toString('base64')}`,
    );
    expect(resolved.management?.displayUrl).toBe('http://mgmt.example:15672');
  });

  it('takes the URL from AMQP_URL, else the local default', () => {
    expect(resolveOptions({}, { AMQP_URL: 'amqp://u:p@from-env:1234/v' }).connection.connect).toMatchObject({
      hostname: 'from-env',
      port: 1234,
      vhost: 'v',
    });
    expect(resolveOptions({}, {}).connection.connect).toMatchObject({
      hostname: 'localhost',
      port: 5672,
      username: 'guest',
      vhost: '/',
    });
  });
});

describe('endpoint broker options', () => {
  const topology = new Topology(
    resolveOptions(
      { exchanges: { 'shop.order-placed.v1': { type: 'topic' }, 'shop.audit.v1': { type: 'headers' } } },
      {},
    ),
    () => Promise.resolve(),
    silentLogger,
  );
  const spec = (overrides: Partial<EndpointSpec> = {}): EndpointSpec => ({
    queue: 'shop.email',
    topics: ['shop.order-placed.v1'],
    prefetch: 10,
    retryDelaysMs: [1_000, 5_000, 5_000, 0],
    ...overrides,
  });

  it('maps queue options onto quorum queue arguments with at-least-once dead-lettering', () => {
    const plan = topology.plan(
      spec({
        options: { messageTtlMs: 60_000, maxLength: 1_000, broker: { bindingKeys: ['order.*', 'order.#'] } },
      }),
    );
    expect(plan.workArguments).toEqual({
      'x-queue-type': 'quorum',
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': 'shop.email.dlq',
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
      'x-message-ttl': 60_000,
      'x-max-length': 1_000,
    });
    expect([...plan.retryDelays]).toEqual([1_000, 5_000]);
    expect(plan.bindings.map((b) => b.key)).toEqual(['order.*', 'order.#']);
  });

  it('declares classic queues on request, without the quorum-only argument', () => {
    const plan = topology.plan(spec({ options: { broker: { queueType: 'classic' } } }));
    expect(plan.queueType).toBe('classic');
    expect(plan.workArguments['x-dead-letter-strategy']).toBeUndefined();
    expect(plan.workArguments['x-queue-type']).toBe('classic');
  });

  it('binds a headers exchange with the match arguments', () => {
    const plan = topology.plan(
      spec({
        topics: ['shop.audit.v1'],
        options: { broker: { bindingHeaders: { match: 'any', headers: { region: 'eu' } } } },
      }),
    );
    expect(plan.bindings).toEqual([
      { exchange: 'shop.audit.v1', key: '', arguments: { 'x-match': 'any', region: 'eu' } },
    ]);
  });

  it.each<[string, Record<string, unknown>]>([
    ['broker.queueType', { queueType: 'stream' }],
    ['broker.durable', { durable: false }],
    ['broker.bindingKeys', { bindingKeys: [] }],
    ['broker.bindingHeaders', { bindingHeaders: { match: 'all', headers: { a: 'b' } } }],
    ['broker.bindingHeaders.match', { bindingHeaders: { match: 'some', headers: {} } }],
  ])('rejects a bad %s', (option, broker) => {
    expect(() => topology.plan(spec({ options: { broker } }))).toThrow(`option "${option}"`);
  });

  it('refuses maxLength on a classic queue with delayed redeliveries, which RabbitMQ would drop', () => {
    const classic = { broker: { queueType: 'classic' }, maxLength: 100 };
    expect(() => topology.plan(spec({ options: classic }))).toThrow(
      expect.objectContaining({
        code: ErrorCodes.INVALID_OPTION,
        message: expect.stringContaining('option "maxLength"'),
      }),
    );
    expect(topology.plan(spec({ options: classic, retryDelaysMs: [0] })).workArguments['x-max-length']).toBe(
      100,
    );
    expect(topology.plan(spec({ options: { maxLength: 100 } })).queueType).toBe('quorum');
  });

  it('rejects binding keys on a fanout exchange', () => {
    expect(() =>
      topology.plan(spec({ topics: ['shop.other.v1'], options: { broker: { bindingKeys: ['x'] } } })),
    ).toThrow('needs a direct or topic exchange');
  });
});

describe('secret redaction', () => {
  it('masks the password of URLs', () => {
    expect(redactUrl(`amqp://app:${secret}@host:5672/vh`)).toBe('amqp://app:***@host:5672/vh');
    expect(redactUrl('amqp://host:5672')).toBe('amqp://host:5672');
    expect(redactUrl(`see amqp://app:${secret}@host and amqps://b:c@d`)).toBe(
      'see amqp://app:***@host and amqps://b:***@d',
    );
  });

  it('scrubs known secrets from errors, keeping their code', () => {
    const error = Object.assign(new Error(`login as app/${secret} failed`), { code: 403 });
    const clean = new Redactor([secret]).error(error);
    expect(clean.message).toBe('login as app/*** failed');
    expect(clean.stack).not.toContain(secret);
    expect((clean as Error & { code?: unknown }).code).toBe(403);
  });

  it('keeps the password out of connection errors and logs', async () => {
    const logger = new RecordingLogger();
    // Nothing listens on port 1: every attempt fails at once.
    const transport = new RabbitMqTransport({
      url: `amqp://app:${secret}@127.0.0.1:1/`,
      connectTimeoutMs: 300,
      reconnect: { initialMs: 20, maxMs: 50 },
      logger,
    });
    const failure = await transport.connect().then(
      () => undefined,
      (error: unknown) => error as Error & { cause?: Error },
    );
    expect(failure).toMatchObject({ code: ErrorCodes.CONNECTION_LOST });
    expect(failure?.message).toContain('amqp://app:***@127.0.0.1:1');
    expect(`${failure?.message} ${failure?.stack} ${failure?.cause?.message}`).not.toContain(secret);
    expect(logger.lines.length).toBeGreaterThan(0);
    expect(logger.text).not.toContain(secret);
    await transport.close();
  });
});
