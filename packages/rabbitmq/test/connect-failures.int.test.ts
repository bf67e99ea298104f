/**
 * How `connect()` meets a broker it cannot use, on the real broker: a refused login or vhost rejects
 * at once with SLUICE_CONNECTION_REFUSED naming the cause (never the password), without logging a
 * retry; a port with nothing listening is retried until `connectTimeoutMs` with one log line at the
 * first failure and a summary every ten attempts, no stacks; a refusal after the transport was up is
 * retried (an operator may be fixing it) and logged as an error, once per ten attempts.
 */
import { ErrorCodes } from '@sluice/core';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { freePort, RecordingLogger } from '@sluice/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, TestUser, TestVhost, vhostUrl } from './support/broker.js';

const password = 'connect-s3cret-Pa55word';
let vhost: TestVhost;
let user: TestUser;

beforeAll(async () => {
  vhost = await TestVhost.create('sluice-connect');
  user = await TestUser.create('sluice-connect', password, vhost);
});

afterAll(async () => {
  await user.delete();
  await vhost.delete();
});

function url(secret: string, vhostName = vhost.name, port?: number): string {
  const parsed = new URL(vhostUrl(vhostName));
  parsed.username = encodeURIComponent(user.name);
  parsed.password = encodeURIComponent(secret);
  if (port !== undefined) parsed.port = String(port);
  return parsed.toString();
}

/** Connects with `options`; returns the rejection (or undefined), how long it took and the log. */
async function tryConnect(options: ConstructorParameters<typeof RabbitMqTransport>[0]) {
  const logger = new RecordingLogger();
  const transport = new RabbitMqTransport({ connectionName: 'sluice-connect-test', ...options, logger });
  const started = performance.now();
  const error = await transport.connect().then(
    () => undefined,
    (thrown: unknown) => thrown as Error & { code?: string; cause?: Error },
  );
  const elapsedMs = performance.now() - started;
  await transport.close();
  const written = `${error?.message} ${error?.stack} ${error?.cause?.message} ${error?.cause?.stack} ${logger.text}`;
  return { error, elapsedMs, logger, written };
}

describe('a refusal that retrying cannot fix', () => {
  it('a wrong password rejects at once with SLUICE_CONNECTION_REFUSED, naming the user', async () => {
    const wrong = 'wrong-Pa55word-1';
    const { error, elapsedMs, logger, written } = await tryConnect({
      url: url(wrong),
      connectTimeoutMs: 30_000,
    });
    expect(error?.code).toBe(ErrorCodes.CONNECTION_REFUSED);
    expect(error?.message).toContain(`refused the login of user "${user.name}"`);
    expect(error?.message).toContain('403 ACCESS_REFUSED');
    expect(elapsedMs).toBeLessThan(10_000);
    // Not retried: nothing was logged about an attempt, and nothing about closing what never opened.
    expect(logger.lines).toEqual([]);
    expect(written).not.toContain(wrong);
    expect(written).not.toContain(password);
  });

  it('a vhost that does not exist rejects at once, naming the vhost and the user', async () => {
    const missing = `${vhost.name}-missing`;
    const { error, elapsedMs, logger, written } = await tryConnect({
      url: url(password, missing),
      connectTimeoutMs: 30_000,
    });
    expect(error?.code).toBe(ErrorCodes.CONNECTION_REFUSED);
    expect(error?.message).toContain(`refused to open virtual host "${missing}" for user "${user.name}"`);
    expect(error?.message).not.toContain('Expected ConnectionOpenOk');
    expect(elapsedMs).toBeLessThan(10_000);
    expect(logger.lines).toEqual([]);
    expect(written).not.toContain(password);
  });
});

describe('a broker that does not answer', () => {
  it('is retried until connectTimeoutMs with one line at the first failure and a summary every ten', async () => {
    const port = await freePort();
    const { error, elapsedMs, logger, written } = await tryConnect({
      url: url(password, vhost.name, port),
      connectTimeoutMs: 2_000,
      reconnect: { initialMs: 10, maxMs: 40, jitter: 0 },
    });
    expect(error?.code).toBe(ErrorCodes.CONNECTION_LOST);
    expect(error?.message).toContain('within 2000 ms');
    expect(error?.message).toContain(`connect ECONNREFUSED 127.0.0.1:${port}`);
    const attempts = Number(/\((\d+) attempts/.exec(error?.message ?? '')?.[1]);
    expect(attempts).toBeGreaterThanOrEqual(20);
    expect(logger.lines[0]).toMatch(/^warn cannot connect to RabbitMQ; retrying .*"attempts":1,/);
    expect(logger.lines.slice(1).every((l) => l.startsWith('warn still cannot connect'))).toBe(true);
    expect(logger.lines.length).toBe(1 + Math.floor(attempts / 10));
    expect(logger.text).not.toMatch(/\bat .*\.js:\d+/);
    expect(elapsedMs).toBeLessThan(10_000);
    expect(written).not.toContain(password);
  });
});

describe('a refusal after the transport was up', () => {
  it('is retried, logged as an error once per ten attempts, and recovered from', async () => {
    const logger = new RecordingLogger();
    // As the broker's test user, whose access to the vhost the test can revoke.
    const transport = new RabbitMqTransport({
      url: vhost.url,
      connectionName: 'sluice-connect-test-up',
      reconnect: { initialMs: 10, maxMs: 40, jitter: 0 },
      logger,
    });
    try {
      await transport.connect();
      await vhost.denyAccess();
      await vhost.closeAllConnections();
      await eventually(() => !transport.isConnected(), 10_000, 'the outage');
      await eventually(
        () => logger.lines.some((l) => l.startsWith('error still cannot reconnect')),
        20_000,
        'a summary of the refused reconnects',
      );
      await vhost.allowAccess();
      await eventually(() => transport.isConnected(), 20_000, 'the reconnection');
      const refused = logger.lines.filter((l) => l.includes('cannot reconnect to RabbitMQ'));
      expect(refused[0]).toMatch(
        /^error cannot reconnect to RabbitMQ; retrying .*refused to open virtual host/,
      );
      expect(logger.text).not.toMatch(/\bat .*\.js:\d+/);
    } finally {
      await vhost.allowAccess();
      await transport.close();
    }
  }, 60_000);
});
