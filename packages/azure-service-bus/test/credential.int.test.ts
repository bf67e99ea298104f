/**
 * Signing in: a namespace and a credential reach both SDK clients (AMQP over TLS and the
 * administration API, against the stand-in's Microsoft Entra stand-in); a refused key or credential
 * fails connect() at once with SLUICE_CONNECTION_REFUSED, never showing the key or the token.
 * On a real namespace (SERVICEBUS_NAMESPACE with SERVICEBUS_CONNECTION_STRING of it, signing in with
 * DefaultAzureCredential from @azure/identity) the last test runs instead.
 */
import tls from 'node:tls';
import { AzureServiceBusTransport } from '@sluice/azure-service-bus';
import { ErrorCodes, silentLogger } from '@sluice/core';
import { DeliveryCollector } from '@sluice/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outgoing, quickReconnect, quickRetry, useServiceBus } from './support/service-bus.js';

const fx = useServiceBus('sb-cred');

/** Subscribes an endpoint of its own and publishes to it: the message arrives. */
async function roundTrip(transport: AzureServiceBusTransport, timeoutMs = 10_000): Promise<void> {
  const { queue, topic } = fx.endpoint();
  const collector = new DeliveryCollector();
  await transport.subscribe({ queue, topics: [topic], prefetch: 5, retryDelaysMs: [] }, collector.handler);
  const sent = outgoing(topic);
  await transport.publish([sent]);
  const [got] = await collector.waitForCount(1, timeoutMs);
  expect(got?.message.messageId).toBe(sent.messageId);
}

describe('a namespace and a credential (the stand-in)', () => {
  let defaultCas: string[];
  beforeAll(() => {
    // The SDK takes no CA for AMQP over TLS: the process trusts the test CA, as NODE_EXTRA_CA_CERTS would.
    defaultCas = tls.getCACertificates('default');
  });
  afterAll(() => {
    tls.setDefaultCACertificates(defaultCas);
  });

  function onStandIn(credential: object) {
    const standIn = fx.bus.standIn;
    if (standIn === undefined) throw new Error('needs the stand-in');
    tls.setDefaultCACertificates([...defaultCas, standIn.ca]);
    const transport = new AzureServiceBusTransport({
      namespace: standIn.endpoint,
      credential: credential as never,
      tlsCa: standIn.ca,
      retry: quickRetry,
      reconnect: quickReconnect,
      lockDurationMs: 5_000,
      connectTimeoutMs: 20_000,
      logger: silentLogger,
    });
    fx.defer(() => transport.close());
    return transport;
  }

  it('signs in with a token credential on both clients, asking it for the Service Bus scope', async ({
    skip,
  }) => {
    const standIn = fx.bus.standIn;
    if (standIn === undefined) return skip('needs the stand-in (its token credential)');
    const scopes: unknown[] = [];
    const transport = onStandIn({
      getToken: (asked: string | string[]) => {
        scopes.push(asked);
        return standIn.tokenCredential.getToken(asked);
      },
    });
    await transport.connect();
    const afterConnect = scopes.length;
    expect(afterConnect).toBeGreaterThan(0); // the administration client signed in
    await roundTrip(transport);
    expect(scopes.length).toBeGreaterThan(afterConnect); // and the AMQP client (CBS put-token)
    expect(new Set(scopes.flat())).toEqual(new Set(['https://servicebus.azure.net//.default']));
  });

  it('signs in with a named key credential (SAS signed by the SDK) on both clients', async ({ skip }) => {
    if (fx.bus.standIn === undefined) return skip('needs the stand-in');
    const field = (name: string) =>
      new RegExp(`${name}=([^;]*)`).exec(fx.bus.connectionString)?.[1] as string;
    const transport = onStandIn({ name: field('SharedAccessKeyName'), key: field('SharedAccessKey') });
    await transport.connect();
    await roundTrip(transport);
  });

  it('refuses a credential the namespace does not accept at connect, never showing its token', async ({
    skip,
  }) => {
    if (fx.bus.standIn === undefined) return skip('needs the stand-in');
    const token = 'eyJ-forged-token-that-must-not-leak';
    const transport = onStandIn({
      getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 60_000 }),
    });
    const started = Date.now();
    const error = (await transport.connect().catch((e: unknown) => e)) as Error;
    expect(error).toMatchObject({
      code: ErrorCodes.CONNECTION_REFUSED,
      message: expect.stringContaining('refused the key or credential (HTTP 401)'),
    });
    expect(error.message).not.toContain(token);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

it('refuses a wrong key at connect with SLUICE_CONNECTION_REFUSED, never showing it', async ({ skip }) => {
  if (fx.bus.standIn === undefined) return skip('needs the stand-in (a key it can refuse)');
  const wrongKey = 'd3Jvbmcta2V5LXRoYXQtbXVzdC1ub3QtbGVhaw==';
  const transport = fx.bus.transport({
    connectionString: fx.bus.connectionString.replace(/SharedAccessKey=[^;]*/, `SharedAccessKey=${wrongKey}`),
  });
  fx.defer(() => transport.close());
  const error = (await transport.connect().catch((e: unknown) => e)) as Error;
  expect(error).toMatchObject({ code: ErrorCodes.CONNECTION_REFUSED });
  expect(error.message).not.toContain(wrongKey);
});

it('signs in to the namespace SERVICEBUS_NAMESPACE names with DefaultAzureCredential', async ({ skip }) => {
  const namespace = process.env.SERVICEBUS_NAMESPACE;
  // The connection string of the same namespace deletes what the test made.
  if (!namespace || !process.env.SERVICEBUS_CONNECTION_STRING) {
    return skip('SERVICEBUS_NAMESPACE and SERVICEBUS_CONNECTION_STRING (of that namespace) are not set');
  }
  const transport = new AzureServiceBusTransport({ namespace, logger: silentLogger });
  fx.defer(() => transport.close());
  await transport.connect();
  await roundTrip(transport, 30_000);
});
