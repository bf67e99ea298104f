import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { AccessTokens } from './access-token.js';
import { adminRequestHandler } from './admin-http.js';
import { AmqpServer } from './amqp-server.js';
import { Namespace } from './entities.js';
import { Faults } from './faults.js';
import { createSniffingServer, createTlsSniffingServer } from './port-sniffer.js';
import { testCertificates } from './test-ca.js';
import type { ServiceBusStandIn, ServiceBusStandInOptions } from './types.js';

const standardTierMaxMessageSize = 256 * 1024;

/**
 * Starts a Service Bus stand-in: an AMQP 1.0 endpoint and the administration API's HTTPS endpoint
 * on one loopback port, an empty namespace (create entities with `ServiceBusAdministrationClient`),
 * and a test CA made for it. Resolves once it listens; rejects when the port is taken, when an option
 * is invalid (naming it) or when openssl cannot make the CA.
 */
export async function startServiceBusStandIn(
  options: ServiceBusStandInOptions = {},
): Promise<ServiceBusStandIn> {
  const host = options.host ?? '127.0.0.1';
  const keyName = options.keyName ?? 'RootManageSharedAccessKey';
  const key = options.key ?? randomBytes(32).toString('base64');
  const maxMessageSize = options.maxMessageSizeInBytes ?? standardTierMaxMessageSize;
  validate(options, keyName, key, maxMessageSize);
  const certificates = await testCertificates();
  const namespace = new Namespace('service-bus-standin');
  const faults = new Faults();
  const policies = [{ keyName, key }];
  const accessTokens = new AccessTokens();
  const amqp = new AmqpServer({ namespace, policies, accessTokens, faults, maxMessageSize });
  const expireLocks = (address?: string) => namespace.expireLocks(address);
  const admin = createHttpServer(
    adminRequestHandler({
      namespace,
      policies,
      accessTokens,
      faults,
      control: { dropConnections: () => amqp.dropConnections(), expireLocks },
      createdAt: new Date(),
    }),
  );
  // TLS carries the administration API (HTTPS) or AMQP (AMQPS, as the SDK speaks to a namespace it
  // is given by name rather than by an emulator's connection string).
  const tls = createTlsSniffingServer(
    { cert: certificates.cert, key: certificates.key },
    (socket) => admin.emit('connection', socket),
    (socket) => amqp.accept(socket),
  );
  const server = createSniffingServer(
    (socket) => tls.emit('connection', socket),
    (socket) => amqp.accept(socket),
  );
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const endpoint = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  let closing: Promise<void> | undefined;
  return {
    connectionString: `Endpoint=sb://${endpoint};SharedAccessKeyName=${keyName};SharedAccessKey=${key};UseDevelopmentEmulator=true`,
    endpoint,
    port,
    ca: certificates.ca,
    administrationClientOptions: { tlsOptions: { ca: certificates.ca } },
    tokenCredential: accessTokens.credential,
    faults: {
      dropConnections: () => amqp.dropConnections(),
      expireLocks,
      failNext: (operation, failure) => faults.failNext(operation, failure),
    },
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        namespace.close();
      });
      return closing;
    },
  };
}

function validate(
  options: ServiceBusStandInOptions,
  keyName: string,
  key: string,
  maxMessageSize: number,
): void {
  if (
    options.port !== undefined &&
    (!Number.isInteger(options.port) || options.port < 0 || options.port > 65_535)
  ) {
    throw new TypeError(
      `service bus stand-in: port must be a whole number from 0 to 65535, got ${String(options.port)}`,
    );
  }
  if (!/^[A-Za-z0-9._-]+$/.test(keyName)) {
    throw new TypeError('service bus stand-in: keyName may hold only letters, digits, ".", "_" and "-"');
  }
  if (key.length === 0 || /[;\s]/.test(key)) {
    throw new TypeError('service bus stand-in: key must be non-empty, without ";" or white space');
  }
  if (!Number.isInteger(maxMessageSize) || maxMessageSize < 1024) {
    throw new TypeError(
      `service bus stand-in: maxMessageSizeInBytes must be a whole number of at least 1024, got ${maxMessageSize}`,
    );
  }
}
