/**
 * amqps on the real broker: a TLS endpoint (a certificate made by openssl for this run) terminates TLS
 * in front of RabbitMQ's plain port, as a load balancer or a TLS sidecar would. The transport
 * connects through it with a `tls.ca`, publishes and consumes, recovers after its connections are
 * force-closed, and refuses certificates it cannot verify with an error that names the cause and never
 * the password, which stays out of the logs as well.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { ErrorCodes, type OutgoingMessage } from '@sluice/core';
import { RabbitMqTransport, type RabbitMqTransportOptions, type TlsOptions } from '@sluice/rabbitmq';
import { DeliveryCollector, RecordingLogger } from '@sluice/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { brokerUrl, eventually, TestUser, TestVhost } from './support/broker.js';

const password = 'tls-s3cret-Pa55word';

interface TlsProxy {
  readonly port: number;
  /** TLS protocol of every completed handshake, in order. */
  readonly handshakes: string[];
  close(): Promise<void>;
}

/** A self-signed certificate for `localhost` (it is its own CA). */
async function makeCertificate(): Promise<{ key: string; cert: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-tls-'));
  try {
    await promisify(execFile)(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { timeout: 30_000 },
    );
    return {
      key: await readFile(join(dir, 'key.pem'), 'utf8'),
      cert: await readFile(join(dir, 'cert.pem'), 'utf8'),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Terminates TLS on a free local port and forwards each connection to the broker's AMQP port. */
async function startTlsProxy(key: string, cert: string): Promise<TlsProxy> {
  const upstream = new URL(brokerUrl);
  const handshakes: string[] = [];
  const sockets = new Set<TLSSocket>();
  const server = createServer({ key, cert }, (client) => {
    handshakes.push(client.getProtocol() ?? 'unknown');
    sockets.add(client);
    const broker = connectTcp(Number(upstream.port || 5672), upstream.hostname);
    const closeBoth = () => {
      sockets.delete(client);
      client.destroy();
      broker.destroy();
    };
    client.on('error', closeBoth).on('close', closeBoth);
    broker.on('error', closeBoth).on('close', closeBoth);
    client.pipe(broker).pipe(client);
  });
  // Failed handshakes (the client refusing the certificate) are expected in one test.
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('TLS proxy has no port');
  return {
    port: address.port,
    handshakes,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function message(topic: string, n: number): OutgoingMessage {
  return {
    messageId: randomUUID(),
    type: topic,
    contentType: 'application/json',
    sentAt: new Date(),
    headers: {},
    body: Buffer.from(JSON.stringify({ n })),
    destination: { topic },
    mandatory: true,
  };
}

describe('amqps / TLS', () => {
  let vhost: TestVhost;
  let user: TestUser;
  let certificate: { key: string; cert: string };
  let proxy: TlsProxy;
  const open: RabbitMqTransport[] = [];

  beforeAll(async () => {
    vhost = await TestVhost.create('sluice-tls');
    user = await TestUser.create('sluice-tls', password, vhost);
    certificate = await makeCertificate();
    proxy = await startTlsProxy(certificate.key, certificate.cert);
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((t) => t.close()));
  });

  afterAll(async () => {
    await proxy.close();
    await vhost.delete();
    await user.delete();
  });

  function transport(options: RabbitMqTransportOptions): RabbitMqTransport {
    const created = new RabbitMqTransport({
      url: `amqps://${user.name}:${encodeURIComponent(password)}@localhost:${proxy.port}/${encodeURIComponent(vhost.name)}`,
      connectionName: 'sluice-tls-test',
      reconnect: { initialMs: 50, maxMs: 300 },
      ...options,
    });
    open.push(created);
    return created;
  }

  it('publishes and consumes over amqps with the CA given in tls.ca', async () => {
    const before = proxy.handshakes.length;
    const topic = `rmqtest.tls-${randomUUID().slice(0, 8)}.v1`;
    const queue = `rmqtest.tls.${randomUUID().slice(0, 8)}`;
    const client = transport({ tls: { ca: certificate.cert } });
    await client.connect();
    expect(client.isConnected()).toBe(true);
    expect(proxy.handshakes.length).toBeGreaterThan(before);
    expect(proxy.handshakes.at(-1)).toMatch(/^TLSv1\.[23]$/);

    const collector = new DeliveryCollector();
    await client.subscribe({ queue, topics: [topic], prefetch: 10, retryDelaysMs: [] }, collector.handler);
    const sent = Array.from({ length: 50 }, (_, n) => message(topic, n));
    await client.publish(sent);
    const received = await collector.waitForCount(50, 10_000);
    expect(received.map((d) => d.message.messageId).sort()).toEqual(sent.map((m) => m.messageId).sort());
  });

  it('reconnects through TLS after its connections are force-closed, and resumes consuming', async () => {
    const topic = `rmqtest.tls-recover-${randomUUID().slice(0, 8)}.v1`;
    const queue = `rmqtest.tls-recover.${randomUUID().slice(0, 8)}`;
    const client = transport({ tls: { ca: certificate.cert } });
    await client.connect();
    const collector = new DeliveryCollector();
    await client.subscribe({ queue, topics: [topic], prefetch: 10, retryDelaysMs: [] }, collector.handler);
    await client.publish([message(topic, 0)]);
    await collector.waitForCount(1, 10_000);
    const handshakesBefore = proxy.handshakes.length;

    await vhost.closeAllConnections();
    await eventually(
      () => proxy.handshakes.length > handshakesBefore && client.isConnected(),
      15_000,
      'a new TLS connection',
    );
    await client.publish([message(topic, 1), message(topic, 2)]);
    await collector.waitForCount(3, 10_000);
  });

  it.each([
    ['without the CA', (): TlsOptions => ({}), 'self-signed certificate'],
    [
      'for another host name',
      (): TlsOptions => ({ ca: certificate.cert, servername: 'broker.example' }),
      "does not match certificate's altnames",
    ],
  ])('refuses the certificate %s, naming the cause and never the password', async (_case, tls, cause) => {
    const logger = new RecordingLogger();
    const client = transport({
      tls: tls(),
      connectTimeoutMs: 1_000,
      logger,
    });
    const failure = await client.connect().then(
      () => undefined,
      (error: unknown) => error as Error & { code?: string; cause?: Error },
    );
    expect(failure?.code).toBe(ErrorCodes.CONNECTION_LOST);
    const described = `${failure?.message} ${failure?.cause?.message}`;
    expect(described).toContain(cause);
    expect(`${described} ${failure?.stack} ${failure?.cause?.stack}`).not.toContain(password);
    expect(logger.lines.length).toBeGreaterThan(0);
    expect(logger.text).not.toContain(password);
    expect(client.isConnected()).toBe(false);
  });
});
