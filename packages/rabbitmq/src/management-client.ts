/**
 * The few calls Sluice makes to the RabbitMQ management HTTP API (the `rabbitmq_management` plugin).
 * Its message counts are statistics, refreshed every `collect_statistics_interval` (5 s by default):
 * https://www.rabbitmq.com/docs/management#statistics-interval
 */
import { ErrorCodes, SluiceError } from '@sluice/core';
import type { ResolvedManagement } from './resolve-options.js';

export interface QueueCounts {
  readonly ready: number;
  readonly unacknowledged: number;
}

export class ManagementClient {
  constructor(
    private readonly settings: ResolvedManagement,
    private readonly vhost: string,
  ) {}

  /** Ready and unacknowledged messages of `queue`; undefined when the queue does not exist. */
  async queueCounts(queue: string): Promise<QueueCounts | undefined> {
    const path = `/api/queues/${encodeURIComponent(this.vhost)}/${encodeURIComponent(queue)}`;
    let response: Response;
    try {
      response = await fetch(`${this.settings.baseUrl}${path}`, {
        headers: { authorization: this.settings.authorization, accept: 'application/json' },
        signal: AbortSignal.timeout(this.settings.timeoutMs),
      });
    } catch (error) {
      throw new SluiceError(
        ErrorCodes.CONNECTION_LOST,
        `RabbitMQ management API at ${this.settings.displayUrl} unreachable: ${(error as Error).message}`,
      );
    }
    if (response.status === 404) {
      await response.body?.cancel();
      return undefined;
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new SluiceError(
        ErrorCodes.CONNECTION_LOST,
        `RabbitMQ management API at ${this.settings.displayUrl} answered ${response.status} for ${path}`,
      );
    }
    const body = (await response.json()) as { messages_ready?: unknown; messages_unacknowledged?: unknown };
    const count = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : 0);
    return { ready: count(body.messages_ready), unacknowledged: count(body.messages_unacknowledged) };
  }
}
