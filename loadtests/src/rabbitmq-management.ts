/**
 * The RabbitMQ management HTTP API, for what a load run needs: a vhost of its own, and the depth of its
 * queues as the broker reports them (ready plus unacknowledged; the broker refreshes these figures every
 * few seconds, its `collect_statistics_interval`).
 */
import { loopbackUrl } from './loopback.js';

/** One queue's depth. */
export interface QueueDepth {
  readonly name: string;
  /** Ready plus unacknowledged. */
  readonly messages: number;
  readonly ready: number;
  readonly unacknowledged: number;
}

/** A message read with `peek`. */
export interface PeekedMessage {
  readonly payload: string;
  readonly headers: Readonly<Record<string, unknown>>;
}

export class RabbitMqManagement {
  /** The API's base URL, without credentials. */
  readonly url: string;
  private readonly authorization: string;
  private readonly user: string;

  /**
   * `managementUrl` (default `RABBITMQ_MANAGEMENT_URL`, else http://127.0.0.1:15672) must be a loopback
   * address; its credentials, else those of `amqpUrl`, else guest/guest, are sent as basic auth.
   */
  constructor(
    amqpUrl: string,
    managementUrl = process.env.RABBITMQ_MANAGEMENT_URL ?? 'http://127.0.0.1:15672',
  ) {
    const management = new URL(loopbackUrl(managementUrl, 'RABBITMQ_MANAGEMENT_URL'));
    const credentials = management.username === '' ? new URL(amqpUrl) : management;
    this.user = decodeURIComponent(credentials.username || 'guest');
    const password = decodeURIComponent(credentials.password || 'guest');
    this.authorization = `Basic ${Buffer.from(`${this.user}:${password}`).toString('base64')}`;
    management.username = '';
    management.password = '';
    this.url = management.toString().replace(/\/$/, '');
  }

  private async call(method: string, path: string, body?: unknown): Promise<Response> {
    const response = await fetch(`${this.url}/api${path}`, {
      method,
      headers: { authorization: this.authorization, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok && response.status !== 404) {
      throw new Error(
        `RabbitMQ management ${method} ${path}: HTTP ${response.status} ${await response.text()}`,
      );
    }
    return response;
  }

  /** Creates `vhost` and gives the broker user every permission on it; resolves when both are done. */
  async createVhost(vhost: string): Promise<void> {
    const name = encodeURIComponent(vhost);
    await this.call('PUT', `/vhosts/${name}`, {});
    await this.call('PUT', `/permissions/${name}/${encodeURIComponent(this.user)}`, {
      configure: '.*',
      write: '.*',
      read: '.*',
    });
  }

  /** Deletes `vhost` with every queue in it (a missing vhost is fine). */
  async deleteVhost(vhost: string): Promise<void> {
    await this.call('DELETE', `/vhosts/${encodeURIComponent(vhost)}`);
  }

  /** The depth of every queue in `vhost`. */
  async queues(vhost: string): Promise<QueueDepth[]> {
    const columns = 'name,messages,messages_ready,messages_unacknowledged';
    const response = await this.call('GET', `/queues/${encodeURIComponent(vhost)}?columns=${columns}`);
    if (response.status === 404) return [];
    const rows = (await response.json()) as {
      name: string;
      messages?: number;
      messages_ready?: number;
      messages_unacknowledged?: number;
    }[];
    return rows.map((row) => ({
      name: row.name,
      messages: row.messages ?? 0,
      ready: row.messages_ready ?? 0,
      unacknowledged: row.messages_unacknowledged ?? 0,
    }));
  }

  /**
   * Up to `count` messages at the head of `queue`: payload as text and AMQP headers; the messages stay
   * in the queue (fetched and requeued by the broker).
   */
  async peek(vhost: string, queue: string, count: number): Promise<PeekedMessage[]> {
    const response = await this.call(
      'POST',
      `/queues/${encodeURIComponent(vhost)}/${encodeURIComponent(queue)}/get`,
      {
        count,
        ackmode: 'ack_requeue_true',
        encoding: 'auto',
        truncate: 65_536,
      },
    );
    if (response.status === 404) return [];
    const messages = (await response.json()) as {
      payload: string;
      properties?: { headers?: Record<string, unknown> };
    }[];
    return messages.map((message) => ({
      payload: message.payload,
      headers: message.properties?.headers ?? {},
    }));
  }
}
