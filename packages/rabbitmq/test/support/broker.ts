/**
 * Test helpers that talk to the real broker: a plain amqplib admin connection (declare, delete, peek,
 * publish as a foreign client), `rabbitmqctl` for broker-side actions (a private vhost per test file,
 * force-closing its connections), and unique names.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { deadLetterQueueName, retryQueueName, type OutgoingMessage } from '@sluice/core';
import amqp, { type ChannelModel, type GetMessage, type Options } from 'amqplib';

const run = promisify(execFile);

/** The broker the tests use. */
export const brokerUrl = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/** `prefix` plus a short unique id. */
export function uniqueName(prefix: string): string {
  return `${prefix}.${randomUUID().slice(0, 8)}`;
}

/** The broker URL for `vhost`. */
export function vhostUrl(vhost: string): string {
  const url = new URL(brokerUrl);
  url.pathname = `/${encodeURIComponent(vhost)}`;
  return url.toString();
}

async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run('rabbitmqctl', ['-q', ...args], { timeout: 30_000 });
  return stdout;
}

/** A vhost of its own: its connections can be force-closed without touching anyone else's. */
export class TestVhost {
  private constructor(readonly name: string) {}

  static async create(prefix: string): Promise<TestVhost> {
    const vhost = new TestVhost(uniqueName(prefix));
    await rabbitmqctl('add_vhost', vhost.name);
    await vhost.allowAccess();
    return vhost;
  }

  private get user(): string {
    return decodeURIComponent(new URL(brokerUrl).username || 'guest');
  }

  /** Grants the test user every permission on the vhost. */
  async allowAccess(): Promise<void> {
    await rabbitmqctl('set_permissions', '-p', this.name, this.user, '.*', '.*', '.*');
  }

  /** Revokes the test user's access: new connections to the vhost are refused (an outage). */
  async denyAccess(): Promise<void> {
    await rabbitmqctl('clear_permissions', '-p', this.name, this.user);
  }

  get url(): string {
    return vhostUrl(this.name);
  }

  /** Sets an operator policy `name` on the vhost's queues matching `pattern`, such as a max length. */
  async setPolicy(
    name: string,
    pattern: string,
    definition: Readonly<Record<string, unknown>>,
  ): Promise<void> {
    await rabbitmqctl(
      'set_policy',
      '-p',
      this.name,
      name,
      pattern,
      JSON.stringify(definition),
      '--apply-to',
      'queues',
    );
  }

  /** Force-closes every client connection to this vhost, as an operator would. */
  async closeAllConnections(): Promise<void> {
    await rabbitmqctl('close_all_connections', '-p', this.name, 'sluice test: forced close');
  }

  /** Force-closes the client connections to this vhost that RabbitMQ shows as `name`. */
  async closeAllConnectionsNamed(name: string): Promise<void> {
    const rows = await rabbitmqctl(
      'list_connections',
      '--no-table-headers',
      'pid',
      'vhost',
      'client_properties',
    );
    for (const row of rows.split('\n')) {
      const [pid, vhost] = row.split('\t');
      if (pid !== undefined && vhost === this.name && row.includes(`{"connection_name","${name}"}`))
        await rabbitmqctl('close_connection', pid, 'sluice test: forced close');
    }
  }

  /** The names of the queues in this vhost, sorted. */
  async queues(): Promise<string[]> {
    const rows = await rabbitmqctl('list_queues', '-p', this.name, '--no-table-headers', 'name');
    return rows
      .split('\n')
      .map((row) => row.trim())
      .filter((name) => name !== '')
      .sort();
  }

  /** The type of a queue in this vhost (`quorum`, `classic`, `stream`) as the broker reports it. */
  async queueType(queue: string): Promise<string | undefined> {
    const rows = await rabbitmqctl('list_queues', '-p', this.name, '--no-table-headers', 'name', 'type');
    const row = rows.split('\n').find((line) => line.split('\t')[0] === queue);
    return row?.split('\t')[1]?.trim();
  }

  /** Messages of a queue in this vhost, ready and unacknowledged together, as the broker counts them. */
  async queueMessages(queue: string): Promise<number | undefined> {
    const rows = await rabbitmqctl('list_queues', '-p', this.name, '--no-table-headers', 'name', 'messages');
    const row = rows.split('\n').find((line) => line.split('\t')[0] === queue);
    return row === undefined ? undefined : Number(row.split('\t')[1]);
  }

  /** Deletes the vhost with everything in it. */
  async delete(): Promise<void> {
    await rabbitmqctl('delete_vhost', this.name);
  }
}

/** A broker user of its own, with a password the test chooses (to show it never leaks). */
export class TestUser {
  private constructor(readonly name: string) {}

  /** Creates the user with every permission on `vhost`. */
  static async create(prefix: string, password: string, vhost: TestVhost): Promise<TestUser> {
    const user = new TestUser(uniqueName(prefix));
    await rabbitmqctl('add_user', user.name, password);
    await rabbitmqctl('set_permissions', '-p', vhost.name, user.name, '.*', '.*', '.*');
    return user;
  }

  /** Lets the user write (publish, bind) on `vhost` only to resources matching `pattern`. */
  async limitWrites(vhost: TestVhost, pattern: string): Promise<void> {
    await rabbitmqctl('set_permissions', '-p', vhost.name, this.name, '.*', pattern, '.*');
  }

  /** Lets the user publish to topic exchange `exchange` only with routing keys matching `pattern`. */
  async limitTopics(vhost: TestVhost, exchange: string, pattern: string): Promise<void> {
    await rabbitmqctl('set_topic_permissions', '-p', vhost.name, this.name, exchange, pattern, '.*');
  }

  /** Sets (or, with `{}`, clears) the user's limits, such as `{ "max-channels": 2 }`. */
  async setLimits(limits: Readonly<Record<string, number>>): Promise<void> {
    if (Object.keys(limits).length === 0) await rabbitmqctl('clear_user_limits', this.name, 'all');
    else await rabbitmqctl('set_user_limits', this.name, JSON.stringify(limits));
  }

  async delete(): Promise<void> {
    await rabbitmqctl('delete_user', this.name);
  }
}

/** A plain amqplib client, as a foreign publisher or an operator would use it. */
export class BrokerAdmin {
  private connection: Promise<ChannelModel>;
  private current: ChannelModel | undefined;

  private constructor(private readonly url: string) {
    this.connection = this.open();
  }

  /** Connects; the admin reconnects by itself when a test force-closes its connection. */
  static async connect(url = brokerUrl): Promise<BrokerAdmin> {
    const admin = new BrokerAdmin(url);
    await admin.connection;
    return admin;
  }

  /** Connects, retrying for a while (a test may have revoked access for a moment). */
  private async open(): Promise<ChannelModel> {
    const options = { clientProperties: { connection_name: 'sluice-test-admin' } };
    let connection: ChannelModel | undefined;
    for (let attempt = 1; connection === undefined; attempt++) {
      try {
        connection = await amqp.connect(this.url, options);
      } catch (error) {
        if (attempt >= 100) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const opened = connection;
    opened.on('error', () => undefined);
    opened.on('close', () => {
      if (this.current === opened) {
        this.current = undefined;
        this.connection = this.open();
        this.connection.catch(() => undefined);
      }
    });
    this.current = opened;
    return opened;
  }

  /** Runs `work` on a fresh channel (a failed operation only closes that channel). */
  async withChannel<T>(work: (channel: amqp.ConfirmChannel) => Promise<T>): Promise<T> {
    const channel = await (await this.connection).createConfirmChannel();
    channel.on('error', () => undefined);
    try {
      return await work(channel);
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  /** Deletes queues (missing ones are fine). */
  async deleteQueues(queues: readonly string[]): Promise<void> {
    for (const queue of queues) await this.withChannel((channel) => channel.deleteQueue(queue));
  }

  /**
   * Deletes an endpoint's queues: the work queue and its dead-letter queue (and that one's, declared
   * when a test consumed the dead-letter queue as an endpoint). Its retry queues are its service's,
   * shared with the service's other endpoints: {@link deleteRetryQueues} deletes them.
   */
  async deleteEndpoint(queue: string): Promise<void> {
    await this.deleteQueues([
      queue,
      deadLetterQueueName(queue),
      deadLetterQueueName(deadLetterQueueName(queue)),
    ]);
  }

  /** Deletes the retry queues (and their exchanges) of `service` for `delaysMs`. */
  async deleteRetryQueues(service: string, delaysMs: readonly number[]): Promise<void> {
    const names = delaysMs.filter((d) => d > 0).map((d) => retryQueueName(service, d));
    await this.deleteQueues(names);
    await this.deleteExchanges(names);
  }

  async deleteExchanges(exchanges: readonly string[]): Promise<void> {
    for (const exchange of exchanges) await this.withChannel((channel) => channel.deleteExchange(exchange));
  }

  /** Ready messages in `queue`, undefined when it does not exist. */
  async messageCount(queue: string): Promise<number | undefined> {
    try {
      return await this.withChannel(async (channel) => (await channel.checkQueue(queue)).messageCount);
    } catch {
      return undefined;
    }
  }

  /** True when `queue` exists. */
  async queueExists(queue: string): Promise<boolean> {
    return (await this.messageCount(queue)) !== undefined;
  }

  /** Publishes one message with plain amqplib and waits for the confirm. */
  async publish(exchange: string, routingKey: string, body: Buffer, options: Options.Publish): Promise<void> {
    await this.withChannel(async (channel) => {
      channel.publish(exchange, routingKey, body, options);
      await channel.waitForConfirms();
    });
  }

  /** Takes every ready message of `queue` off it (acked), for assertions on what arrived. */
  async drain(queue: string): Promise<GetMessage[]> {
    return this.withChannel(async (channel) => {
      const taken: GetMessage[] = [];
      for (;;) {
        const message = await channel.get(queue, { noAck: true });
        if (message === false) return taken;
        taken.push(message);
      }
    });
  }

  async close(): Promise<void> {
    const connection = await this.connection;
    this.current = undefined;
    await connection.close().catch(() => undefined);
  }
}

/**
 * Publishes one message (confirmed) whose header `header` is a table nested `depth` levels deep, as a
 * foreign publisher could: RabbitMQ takes tables far deeper than amqplib's recursive codec reaches on
 * a default stack, so this publisher runs amqplib in a worker thread with a stack large enough.
 */
export async function publishNested(
  url: string,
  queue: string,
  body: Buffer,
  options: Options.Publish,
  header: string,
  depth: number,
): Promise<void> {
  const amqplib = createRequire(import.meta.url).resolve('amqplib');
  const source = `
    const { workerData, parentPort } = require('node:worker_threads');
    const amqp = require(workerData.amqplib);
    (async () => {
      const connection = await amqp.connect(workerData.url);
      const channel = await connection.createConfirmChannel();
      let table = { leaf: 'x' };
      for (let i = 0; i < workerData.depth; i++) table = { a: table };
      const options = { ...workerData.options, headers: { ...workerData.options.headers, [workerData.header]: table } };
      channel.publish('', workerData.queue, Buffer.from(workerData.body), options);
      await channel.waitForConfirms();
      await connection.close();
    })().then(() => parentPort.postMessage('published'), (error) => parentPort.postMessage(String(error)));`;
  const worker = new Worker(source, {
    eval: true,
    workerData: { amqplib, url, queue, body: Uint8Array.from(body), options, header, depth },
    resourceLimits: { stackSizeMb: 256 },
  });
  try {
    const outcome = await new Promise<unknown>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    if (outcome !== 'published') throw new Error(`publishNested: ${String(outcome)}`);
  } finally {
    await worker.terminate();
  }
}

/** Resolves once `check` returns true, polling every `intervalMs`; rejects after `timeoutMs`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The repository root. */
export const repositoryRoot = new URL('../../../../', import.meta.url);

/** `count` small text messages for `queue`, with ids `<prefix>-<n>-<uuid>` and bodies `<n>`. */
/** A JSON message with a fresh id to `destination`, mandatory; `overrides` replace any field. */
export function outgoing(
  destination: OutgoingMessage['destination'],
  overrides: Partial<OutgoingMessage> = {},
): OutgoingMessage {
  return {
    messageId: randomUUID(),
    type: 'rmqtest.message.v1',
    contentType: 'application/json',
    sentAt: new Date(),
    headers: {},
    body: Buffer.from('{}'),
    destination,
    mandatory: true,
    ...overrides,
  };
}

export function textMessages(count: number, queue: string, type: string, prefix: string): OutgoingMessage[] {
  return Array.from({ length: count }, (_, n) => ({
    messageId: `${prefix}-${n}-${randomUUID()}`,
    type,
    contentType: 'text/plain',
    sentAt: new Date(),
    headers: {},
    body: Buffer.from(String(n)),
    destination: { queue },
    mandatory: true,
  }));
}
