/**
 * amqps on the real broker: a TLS endpoint (certificates made by openssl for this run) terminates TLS
 * in front of RabbitMQ's plain port, as a load balancer or a TLS sidecar would. The transport
 * connects through it with a `tls.ca`, publishes and consumes, recovers after its connections are
 * force-closed, and refuses certificates it cannot verify at once (SLUICE_CONNECTION_REFUSED, no
 * retries) with an error that names the cause and never the password, which stays out of the logs as
 * well. A second endpoint requires a client certificate
 * (mutual TLS): the transport presents one with a passphrase-protected key.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { ErrorCodes } from '@sluice/core';
import { RabbitMqTransport, type RabbitMqTransportOptions, type TlsOptions } from '@sluice/rabbitmq';
import { DeliveryCollector, RecordingLogger } from '@sluice/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { brokerUrl, eventually, outgoing, TestUser, TestVhost, uniqueName } from './support/broker.js';

const password = 'tls-s3cret-Pa55word';
const passphrase = 'key-s3cret-Pa55phrase';

interface TlsProxy {
  readonly port: number;
  /** TLS protocol of every completed handshake, in order. */
  readonly handshakes: string[];
  /** Common name of the client certificate of every completed handshake (mutual TLS only). */
  readonly clients: string[];
  close(): Promise<void>;
}

interface Certificate {
  readonly key: string;
  readonly cert: string;
}

/**
 * A self-signed certificate (it is its own CA) with the common name `subject` and `localhost` as its
 * alternative name; the key is encrypted when a passphrase is given.
 */
async function makeCertificate(subject: string, keyPassphrase?: string): Promise<Certificate> {
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
        ...(keyPassphrase === undefined ? ['-nodes'] : ['-passout', `pass:${keyPassphrase}`]),
        '-days',
        '2',
        '-subj',
        `/CN=${subject}`,
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

/**
 * Terminates TLS on a free local port and forwards each connection to the broker's AMQP port. With
 * `clientCa` it requires a client certificate issued by it.
 */
async function startTlsProxy(server: Certificate, clientCa?: string): Promise<TlsProxy> {
  const upstream = new URL(brokerUrl);
  const handshakes: string[] = [];
  const clients: string[] = [];
  const sockets = new Set<TLSSocket>();
  const mutual = clientCa === undefined ? {} : { requestCert: true, rejectUnauthorized: true, ca: clientCa };
  const listener = createServer({ ...server, ...mutual }, (client) => {
    handshakes.push(client.getProtocol() ?? 'unknown');
    if (clientCa !== undefined) clients.push(String(client.getPeerCertificate().subject.CN));
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
  // Failed handshakes (a refused certificate on either side) are expected in some tests.
  listener.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const address = listener.address();
  if (address === null || typeof address === 'string') throw new Error('TLS proxy has no port');
  return {
    port: address.port,
    handshakes,
    clients,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        listener.close(() => resolve());
      }),
  };
}

describe('amqps / TLS', () => {
  let vhost: TestVhost;
  let user: TestUser;
  let certificate: Certificate;
  let clientCertificate: Certificate;
  let proxy: TlsProxy;
  let mutualProxy: TlsProxy;
  const open: RabbitMqTransport[] = [];

  beforeAll(async () => {
    vhost = await TestVhost.create('sluice-tls');
    user = await TestUser.create('sluice-tls', password, vhost);
    certificate = await makeCertificate('localhost');
    clientCertificate = await makeCertificate('sluice-client', passphrase);
    proxy = await startTlsProxy(certificate);
    mutualProxy = await startTlsProxy(certificate, clientCertificate.cert);
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((t) => t.close()));
  });

  afterAll(async () => {
    await proxy.close();
    await mutualProxy.close();
    await vhost.delete();
    await user.delete();
  });

  function transport(options: RabbitMqTransportOptions, port = proxy.port): RabbitMqTransport {
    const created = new RabbitMqTransport({
      url: `amqps://${user.name}:${encodeURIComponent(password)}@localhost:${port}/${encodeURIComponent(vhost.name)}`,
      connectionName: 'sluice-tls-test',
      reconnect: { initialMs: 50, maxMs: 300 },
      ...options,
    });
    open.push(created);
    return created;
  }

  /**
   * Connects with `options`, expecting `SLUICE_CONNECTION_REFUSED` at once (a refused certificate is
   * not retried for the connect timeout, and no retry is logged); returns the error's messages and
   * everything written about the failure (stacks and log lines too).
   */
  async function failedConnect(
    options: RabbitMqTransportOptions,
    port?: number,
  ): Promise<{ described: string; written: string }> {
    const logger = new RecordingLogger();
    const client = transport({ ...options, connectTimeoutMs: 30_000, logger }, port);
    const started = performance.now();
    const failure = await client.connect().then(
      () => undefined,
      (error: unknown) => error as Error & { code?: string; cause?: Error },
    );
    expect(failure?.code).toBe(ErrorCodes.CONNECTION_REFUSED);
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(client.isConnected()).toBe(false);
    expect(logger.lines).toEqual([]);
    const described = `${failure?.message} ${failure?.cause?.message}`;
    return { described, written: `${described} ${failure?.stack} ${failure?.cause?.stack} ${logger.text}` };
  }

  /** Publishes `count` messages through `client` to a new queue and waits for all of them. */
  async function roundTrip(client: RabbitMqTransport, count: number): Promise<void> {
    const topic = uniqueName('rmqtest.tls-topic');
    const queue = uniqueName('rmqtest.tls');
    const collector = new DeliveryCollector();
    await client.subscribe({ queue, topics: [topic], prefetch: 10, retryDelaysMs: [] }, collector.handler);
    const sent = Array.from({ length: count }, () => outgoing({ topic }));
    await client.publish(sent);
    const received = await collector.waitForCount(count, 10_000);
    expect(received.map((d) => d.message.messageId).sort()).toEqual(sent.map((m) => m.messageId).sort());
  }

  it('publishes and consumes over amqps with the CA given in tls.ca', async () => {
    const before = proxy.handshakes.length;
    const client = transport({ tls: { ca: certificate.cert } });
    await client.connect();
    expect(client.isConnected()).toBe(true);
    expect(proxy.handshakes.length).toBeGreaterThan(before);
    expect(proxy.handshakes.at(-1)).toMatch(/^TLSv1\.[23]$/);
    await roundTrip(client, 50);
  });

  it('reconnects through TLS after its connections are force-closed, and resumes consuming', async () => {
    const topic = uniqueName('rmqtest.tls-recover-topic');
    const queue = uniqueName('rmqtest.tls-recover');
    const client = transport({ tls: { ca: certificate.cert } });
    await client.connect();
    const collector = new DeliveryCollector();
    await client.subscribe({ queue, topics: [topic], prefetch: 10, retryDelaysMs: [] }, collector.handler);
    await client.publish([outgoing({ topic })]);
    await collector.waitForCount(1, 10_000);
    const handshakesBefore = proxy.handshakes.length;

    await vhost.closeAllConnections();
    await eventually(
      () => proxy.handshakes.length > handshakesBefore && client.isConnected(),
      15_000,
      'a new TLS connection',
    );
    await client.publish([outgoing({ topic }), outgoing({ topic })]);
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
    const { described, written } = await failedConnect({ tls: tls() });
    expect(described).toContain(cause);
    expect(written).not.toContain(password);
  });

  describe('mutual TLS', () => {
    const clientTls = (keyPassphrase: string): TlsOptions => ({
      ca: certificate.cert,
      cert: clientCertificate.cert,
      key: clientCertificate.key,
      passphrase: keyPassphrase,
    });

    it('presents a client certificate with a passphrase-protected key', async () => {
      const client = transport({ tls: clientTls(passphrase) }, mutualProxy.port);
      await client.connect();
      expect(mutualProxy.clients.at(-1)).toBe('sluice-client');
      await roundTrip(client, 5);
    });

    it('is refused without a client certificate', async () => {
      const accepted = mutualProxy.handshakes.length;
      const { written } = await failedConnect({ tls: { ca: certificate.cert } }, mutualProxy.port);
      expect(written).not.toContain(password);
      expect(mutualProxy.handshakes).toHaveLength(accepted);
    });

    it('fails on a wrong key passphrase, naming neither passphrase', async () => {
      const wrong = 'wrong-Pa55phrase-0';
      const { described, written } = await failedConnect({ tls: clientTls(wrong) }, mutualProxy.port);
      expect(described).toMatch(/bad decrypt/i);
      expect(written).not.toContain(wrong);
      expect(written).not.toContain(passphrase);
      expect(written).not.toContain(password);
    });
  });
});
