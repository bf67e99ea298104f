/**
 * A span exporter that says when export fails: the first failure after a success (or at start) is
 * logged once as a warning naming the endpoint and the cause, the recovery once as info; failures in
 * between are not logged again. Without it, an OTLP endpoint that does not answer loses every span in
 * silence.
 */
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import type { Logger } from '@sluice/core';

export class ReportingSpanExporter implements SpanExporter {
  private failing = false;

  constructor(
    private readonly inner: SpanExporter,
    private readonly destination: string,
    private readonly logger: Logger,
  ) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) {
        if (this.failing) this.logger.info({ destination: this.destination }, 'trace export recovered');
        this.failing = false;
      } else if (!this.failing) {
        this.failing = true;
        this.logger.warn(
          { destination: this.destination, cause: result.error?.message ?? 'unknown', spans: spans.length },
          'traces cannot be exported; spans are dropped until the endpoint answers (logged once)',
        );
      }
      resultCallback(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}
