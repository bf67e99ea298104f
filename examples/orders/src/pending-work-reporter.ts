import { PeriodicWorker, type BackgroundTaskQueue, type Logger, type Transport } from '@sluice/core';
import { inject } from 'inversify';
import { ServiceTokens } from './services.js';

export const ReporterTokens = {
  Transport: Symbol.for('orders.Transport'),
  Uploads: Symbol.for('orders.Uploads'),
} as const;

/** The hosted-service pattern: every few seconds, report the work still waiting. */
@PeriodicWorker({ intervalMs: 5_000, runAtStart: false })
export class PendingWorkReporter {
  constructor(
    @inject(ReporterTokens.Transport) private readonly transport: Transport,
    @inject(ReporterTokens.Uploads) private readonly uploads: BackgroundTaskQueue,
    @inject(ServiceTokens.Logger) private readonly logger: Logger,
  ) {}

  async run(): Promise<void> {
    const payments = await this.transport.queueDepth('payments');
    const paymentsDlq = await this.transport.queueDepth(this.transport.deadLetterQueue('payments'));
    this.logger.info(
      {
        payments,
        paymentsDeadLettered: paymentsDlq,
        uploadsQueued: this.uploads.size,
        uploadsRunning: this.uploads.active,
      },
      'pending work',
    );
  }
}
