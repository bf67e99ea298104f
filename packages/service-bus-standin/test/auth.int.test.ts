import tls from 'node:tls';
import { isServiceBusError, ServiceBusAdministrationClient, ServiceBusClient } from '@azure/service-bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { receiveUpTo, type StandInFixture, startFixture } from './support/fixture.js';
import { sasToken } from './support/sas-token.js';

const noRetries = { maxRetries: 0, timeoutInMs: 5_000 };

/** A send of `client` to `queue` is refused with UnauthorizedAccess; closes the client. */
async function expectRefusedSend(client: ServiceBusClient, queue: string): Promise<void> {
  try {
    const error = await client
      .createSender(queue)
      .sendMessages({ body: 'x' })
      .catch((e: unknown) => e);
    expect(isServiceBusError(error) && error.code).toBe('UnauthorizedAccess');
  } finally {
    await client.close();
  }
}

/** CBS put-token and the ATOM API check SAS signatures; a wrong key or an expired token is refused. */
describe('service bus stand-in: shared access signatures', () => {
  let fx: StandInFixture;
  beforeAll(async () => {
    fx = await startFixture({ keyName: 'sender', key: 'right-key' });
  });
  afterAll(async () => {
    await fx.stop();
  });

  const withToken = (token: string) =>
    `Endpoint=sb://${fx.standIn.endpoint};SharedAccessSignature=${token};UseDevelopmentEmulator=true`;

  it('refuses a client signing with the wrong key (UnauthorizedAccess), over AMQP and HTTPS', async () => {
    const queue = await fx.queue();
    const wrong = fx.standIn.connectionString.replace(
      'SharedAccessKey=right-key',
      'SharedAccessKey=wrong-key',
    );
    await expectRefusedSend(new ServiceBusClient(wrong, { retryOptions: noRetries }), queue);
    const admin = new ServiceBusAdministrationClient(wrong, fx.standIn.administrationClientOptions);
    await expect(admin.getQueue(queue)).rejects.toMatchObject({
      statusCode: 401,
      code: 'UnauthorizedRequestError',
    });
    expect((await fx.admin.getQueueRuntimeProperties(queue)).activeMessageCount).toBe(0);
  });

  it('accepts a valid shared access signature and refuses an expired one', async () => {
    const queue = await fx.queue();
    const namespaceUri = `sb://${fx.standIn.endpoint}/`;
    const valid = new ServiceBusClient(
      withToken(sasToken(namespaceUri, 'sender', 'right-key', Math.floor(Date.now() / 1000) + 600)),
      {
        retryOptions: noRetries,
      },
    );
    const expired = new ServiceBusClient(
      withToken(sasToken(namespaceUri, 'sender', 'right-key', Math.floor(Date.now() / 1000) - 60)),
      {
        retryOptions: noRetries,
      },
    );
    try {
      await valid.createSender(queue).sendMessages({ body: 'signed' });
      const [received] = await receiveUpTo(
        valid.createReceiver(queue, { receiveMode: 'receiveAndDelete' }),
        1,
      );
      expect(received!.body).toBe('signed');
      const error = await expired
        .createSender(queue)
        .sendMessages({ body: 'late' })
        .catch((e: unknown) => e);
      expect(isServiceBusError(error) && error.code).toBe('UnauthorizedAccess');
    } finally {
      await valid.close();
      await expired.close();
    }
  });

  it('limits a token issued for one entity to that entity', async () => {
    const [allowed, other] = [await fx.queue(), await fx.queue()];
    const token = sasToken(
      `sb://${fx.standIn.endpoint}/${allowed}`,
      'sender',
      'right-key',
      Math.floor(Date.now() / 1000) + 600,
    );
    const client = new ServiceBusClient(withToken(token), { retryOptions: noRetries });
    try {
      await client.createSender(allowed).sendMessages({ body: 'ok' });
      const error = await client
        .createSender(other)
        .sendMessages({ body: 'no' })
        .catch((e: unknown) => e);
      expect(isServiceBusError(error) && error.code).toBe('UnauthorizedAccess');
    } finally {
      await client.close();
    }
    expect((await fx.admin.getQueueRuntimeProperties(allowed)).activeMessageCount).toBe(1);
    expect((await fx.admin.getQueueRuntimeProperties(other)).activeMessageCount).toBe(0);
  });
});

/**
 * A namespace given by name with a credential: the SDK speaks AMQP over TLS and HTTPS to the one
 * port, and signs in with the credential (a token credential's bearer token, or a named key's SAS).
 */
describe('service bus stand-in: a namespace and a credential', () => {
  let fx: StandInFixture;
  let defaultCas: string[];
  beforeAll(async () => {
    fx = await startFixture({ keyName: 'sender', key: 'right-key' });
    // The SDK takes no CA for AMQPS: the process trusts the test CA, as NODE_EXTRA_CA_CERTS would.
    defaultCas = tls.getCACertificates('default');
    tls.setDefaultCACertificates([...defaultCas, fx.standIn.ca]);
  });
  afterAll(async () => {
    tls.setDefaultCACertificates(defaultCas);
    await fx.stop();
  });

  it("signs in with the token credential's bearer token over AMQPS and HTTPS, for the Service Bus scope", async () => {
    const queue = await fx.queue();
    const scopes: unknown[] = [];
    const credential = {
      getToken: (asked: string | string[]) => {
        scopes.push(asked);
        return fx.standIn.tokenCredential.getToken(asked);
      },
    };
    const admin = new ServiceBusAdministrationClient(
      fx.standIn.endpoint,
      credential,
      fx.standIn.administrationClientOptions,
    );
    expect((await admin.getQueueRuntimeProperties(queue)).activeMessageCount).toBe(0);
    const client = new ServiceBusClient(fx.standIn.endpoint, credential, { retryOptions: noRetries });
    try {
      await client.createSender(queue).sendMessages({ body: 'by token' });
      const [received] = await receiveUpTo(
        client.createReceiver(queue, { receiveMode: 'receiveAndDelete' }),
        1,
      );
      expect(received?.body).toBe('by token');
    } finally {
      await client.close();
    }
    expect(new Set(scopes.flat())).toEqual(new Set(['https://servicebus.azure.net//.default']));
  });

  it('refuses a bearer token it did not issue, over AMQPS and HTTPS', async () => {
    const queue = await fx.queue();
    const forged = {
      getToken: async () => ({ token: 'forged', expiresOnTimestamp: Date.now() + 60_000 }),
    };
    await expectRefusedSend(
      new ServiceBusClient(fx.standIn.endpoint, forged, { retryOptions: noRetries }),
      queue,
    );
    const admin = new ServiceBusAdministrationClient(
      fx.standIn.endpoint,
      forged,
      fx.standIn.administrationClientOptions,
    );
    await expect(admin.getQueue(queue)).rejects.toMatchObject({ statusCode: 401 });
  });
});
