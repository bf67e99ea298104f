import { once } from 'node:events';
import { request } from 'node:https';
import { connect as connectTcp } from 'node:net';
import rhea, { type Connection, type EventContext, type Message } from 'rhea';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { receiveUpTo, type StandInFixture, startFixture } from './support/fixture.js';
import { sasToken } from './support/sas-token.js';

/** Malformed input from a client gets a clear refusal; the stand-in keeps serving everyone else. */
describe('service bus stand-in: hostile input', () => {
  let fx: StandInFixture;
  beforeAll(async () => {
    fx = await startFixture({ keyName: 'root', key: 'hostile-key' });
  });
  afterAll(async () => {
    await fx.stop();
  });

  const token = (resource: string) =>
    sasToken(resource, 'root', 'hostile-key', Math.floor(Date.now() / 1000) + 600);

  /** A plain rhea client, authorised for the whole namespace through CBS. */
  async function rawClient(): Promise<Connection> {
    const connection = rhea
      .create_container()
      .connect({ host: '127.0.0.1', port: fx.standIn.port, reconnect: false });
    await once(connection, 'connection_open');
    const status = await call(connection, '$cbs', {
      body: token(`sb://${fx.standIn.endpoint}/`),
      application_properties: { operation: 'put-token', type: 'servicebus.windows.net:sastoken', name: 'x' },
    });
    expect(status.application_properties?.['status-code']).toBe(202);
    return connection;
  }

  /** One request/response exchange on `address`. */
  async function call(connection: Connection, address: string, message: Partial<Message>): Promise<Message> {
    const replyTo = `reply-${rhea.generate_uuid()}`;
    const receiver = connection.open_receiver({
      source: { address },
      target: { address: replyTo },
      name: replyTo,
    });
    const sender = connection.open_sender({ target: { address } });
    await once(sender, 'sendable');
    const reply = new Promise<Message>((resolve) =>
      receiver.once('message', (context: EventContext) => resolve(context.message!)),
    );
    sender.send({ ...message, message_id: 'request-1', reply_to: replyTo } as Message);
    return reply;
  }

  it('closes a connection that speaks neither AMQP nor TLS, and goes on serving the SDK', async () => {
    const socket = connectTcp(fx.standIn.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    socket.on('data', () => undefined);
    await once(socket, 'close');
    const queue = await fx.queue();
    await fx.client.createSender(queue).sendMessages({ body: 'still here' });
    expect(
      (await receiveUpTo(fx.client.createReceiver(queue, { receiveMode: 'receiveAndDelete' }), 1))[0]!.body,
    ).toBe('still here');
  });

  it('rejects a batch transfer that is not made of data sections with amqp:decode-error', async () => {
    const queue = await fx.queue();
    const connection = await rawClient();
    try {
      const sender = connection.open_sender({ target: { address: queue } });
      await once(sender, 'sendable');
      sender.send(rhea.message.encode({ body: 'not a batch' }) as unknown as Message, undefined, 0x80013700);
      const [context] = (await once(sender, 'rejected')) as [EventContext];
      expect(context.delivery!.remote_state?.error).toMatchObject({
        condition: 'amqp:decode-error',
        description: 'The message could not be read: a batch must carry data sections',
      });
    } finally {
      connection.close();
    }
    expect((await fx.admin.getQueueRuntimeProperties(queue)).activeMessageCount).toBe(0);
  });

  it('answers a malformed $management request with 400 and an unknown operation with 501', async () => {
    const queue = await fx.queue();
    const connection = await rawClient();
    try {
      const badTokens = await call(connection, `${queue}/$management`, {
        body: { 'lock-tokens': ['not-a-uuid'] },
        application_properties: { operation: 'com.microsoft:renew-lock' },
      });
      expect(badTokens.application_properties).toMatchObject({
        statusCode: 400,
        statusDescription: 'Each lock token must be a uuid.',
      });
      const unknown = await call(connection, `${queue}/$management`, {
        body: {},
        application_properties: { operation: 'com.microsoft:get-message-sessions' },
      });
      expect(unknown.application_properties).toMatchObject({
        statusCode: 501,
        errorCondition: 'amqp:not-implemented',
      });
    } finally {
      connection.close();
    }
  });

  it('answers an ATOM PUT that is not XML, or not an entity description, with 400 and a detail', async () => {
    const put = (path: string, body: string) => {
      const url = `https://${fx.standIn.endpoint}/${path}?api-version=2021-05`;
      return new Promise<[number, string]>((resolve, reject) => {
        const outgoing = request(
          url,
          { method: 'PUT', ca: fx.standIn.ca, headers: { authorization: token(url.toLowerCase()) } },
          (response) => {
            let text = '';
            response.setEncoding('utf8');
            response.on('data', (chunk: string) => (text += chunk));
            response.on('end', () => resolve([response.statusCode ?? 0, text]));
          },
        );
        outgoing.on('error', reject);
        outgoing.end(body);
      });
    };
    const [status, body] = await put('broken', '<entry><content><QueueDescription>');
    expect(status).toBe(400);
    expect(body).toMatch(/<Detail>The request body is not XML/);
    const [wrongKind, detail] = await put('broken', '<entry><content><Nonsense/></content></entry>');
    expect([wrongKind, detail]).toEqual([400, expect.stringContaining('A Nonsense cannot be put at')]);
    expect(await fx.admin.queueExists('broken')).toBe(false);
  });
});
