import { request } from 'node:https';
import { isServiceBusError, ServiceBusClient } from '@azure/service-bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  eventually,
  quickRetries,
  receiveUpTo,
  type StandInFixture,
  startFixture,
} from './support/fixture.js';
import { sasToken } from './support/sas-token.js';

/** The fault hooks, driven through the server object and through the HTTP control paths. */
describe('service bus stand-in: fault hooks', () => {
  let fx: StandInFixture;
  beforeAll(async () => {
    fx = await startFixture({ keyName: 'root', key: 'fault-key' });
  });
  afterAll(async () => {
    await fx.stop();
  });

  it('drops every connection mid-stream of 2,000 messages; the SDK reconnects and none is lost', async () => {
    const queue = await fx.queue({ lockDuration: 'PT2S' });
    const sender = fx.client.createSender(queue);
    const total = 2_000;
    for (let start = 0; start < total; start += 250) {
      await sender.sendMessages(
        Array.from({ length: 250 }, (_, i) => ({ body: start + i, messageId: `n-${start + i}` })),
      );
    }
    const consumer = new ServiceBusClient(fx.standIn.connectionString, {
      retryOptions: { ...quickRetries, timeoutInMs: 3_000 },
    });
    const completed = new Set<string>();
    let dropped = 0;
    const drained = async () => (await fx.admin.getQueueRuntimeProperties(queue)).activeMessageCount === 0;
    const subscription = consumer.createReceiver(queue, { maxAutoLockRenewalDurationInMs: 0 }).subscribe(
      {
        processMessage: async (message) => {
          completed.add(String(message.messageId));
          if (completed.size === 500 && dropped === 0) dropped = fx.standIn.faults.dropConnections();
        },
        processError: async () => undefined,
      },
      { maxConcurrentCalls: 20 },
    );
    try {
      // Settlements sent on the dropped link are lost with it: those messages come again once their
      // lock runs out, so the queue ends empty and every message was handled at least once.
      await eventually(
        async () => (completed.size === total && (await drained()) ? true : undefined),
        'every message completed and the queue drained',
        90_000,
      );
    } finally {
      await subscription.close();
      await consumer.close();
    }
    expect(dropped).toBeGreaterThanOrEqual(2);
  }, 150_000);

  it('fails the next send with ServerBusy; the SDK retries and the message arrives once', async () => {
    const queue = await fx.queue();
    fx.standIn.faults.failNext('send');
    await fx.client.createSender(queue).sendMessages({ body: 'retried', messageId: 'r-1' });
    const receiver = fx.client.createReceiver(queue, { receiveMode: 'receiveAndDelete' });
    expect((await receiveUpTo(receiver, 2, 1_000)).map((m) => m.messageId)).toEqual(['r-1']);
  });

  it('fails the next settlement, keeping the lock, and the next management request', async () => {
    const queue = await fx.queue();
    await fx.client.createSender(queue).sendMessages({ body: 'kept' });
    const receiver = fx.client.createReceiver(queue);
    const [message] = await receiveUpTo(receiver, 1);
    fx.standIn.faults.failNext('settle', { condition: 'amqp:not-allowed', description: 'injected' });
    await expect(receiver.completeMessage(message!)).rejects.toThrow(/injected/);
    fx.standIn.faults.failNext('management', {
      condition: 'amqp:not-allowed',
      statusCode: 400,
      description: 'peek refused',
    });
    await expect(receiver.peekMessages(1)).rejects.toThrow(/peek refused/);
    expect((await receiver.peekMessages(1)).map((m) => m.body)).toEqual(['kept']);
    expect((await fx.admin.getQueueRuntimeProperties(queue)).activeMessageCount).toBe(1);
  });

  it('expires every lock on demand: the message comes again with its delivery count incremented', async () => {
    const queue = await fx.queue({ lockDuration: 'PT5M' });
    await fx.client.createSender(queue).sendMessages({ body: 'locked', messageId: 'e-1' });
    const receiver = fx.client.createReceiver(queue, { maxAutoLockRenewalDurationInMs: 0 });
    const [first] = await receiveUpTo(receiver, 1);
    expect(fx.standIn.faults.expireLocks(queue)).toBe(1);
    expect(() => fx.standIn.faults.expireLocks('no-such-queue')).toThrow(/could not be found/);
    const [again] = await receiveUpTo(receiver, 1);
    expect(again).toMatchObject({ messageId: 'e-1', deliveryCount: 1 });
    const error = await receiver.completeMessage(first!).catch((e: unknown) => e);
    expect(isServiceBusError(error) && error.code).toBe('MessageLockLost');
    await receiver.completeMessage(again!);
  });

  it('fails the next administration request with the status asked for', async () => {
    const queue = await fx.queue();
    fx.standIn.faults.failNext('admin', { statusCode: 400, description: 'admin refused' });
    await expect(fx.admin.getQueue(queue)).rejects.toMatchObject({
      statusCode: 400,
      message: 'admin refused',
    });
    expect((await fx.admin.getQueue(queue)).name).toBe(queue);
  });

  it('offers the hooks over HTTPS to a process outside the test (SAS-signed POSTs)', async () => {
    const queue = await fx.queue({ lockDuration: 'PT5M' });
    await fx.client.createSender(queue).sendMessages({ body: 'remote' });
    const receiver = fx.client.createReceiver(queue, { maxAutoLockRenewalDurationInMs: 0 });
    await receiveUpTo(receiver, 1);
    expect(await control(`expire-locks?entity=${queue}`)).toEqual([200, '<Expired>1</Expired>']);
    expect((await receiveUpTo(receiver, 1))[0]!.deliveryCount).toBe(1);
    expect((await control('fail-next?operation=send'))[0]).toBe(200);
    await fx.client.createSender(queue).sendMessages({ body: 'after a retry' });
    expect((await control('fail-next?operation=nonsense'))[0]).toBe(400);
    const [status, body] = await control('drop-connections');
    expect([status, Number(/<Dropped>(\d+)<\/Dropped>/.exec(body)?.[1])]).toEqual([200, expect.any(Number)]);
    expect((await control('drop-connections', 'wrong-key'))[0]).toBe(401);
  });

  function control(action: string, key = 'fault-key'): Promise<[number, string]> {
    const url = `https://${fx.standIn.endpoint}/$stand-in/${action}`;
    const token = sasToken(url.toLowerCase(), 'root', key, Math.floor(Date.now() / 1000) + 60);
    return new Promise((resolve, reject) => {
      const outgoing = request(
        url,
        { method: 'POST', ca: fx.standIn.ca, headers: { authorization: token } },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (text += chunk));
          response.on('end', () => resolve([response.statusCode ?? 0, text]));
        },
      );
      outgoing.on('error', reject);
      outgoing.end();
    });
  }
});
