import type { Logger } from '@sluice/core';

/**
 * A logger that keeps every line as text (level, message, then fields as JSON, errors written out
 * with their message and stack), for tests that check what was logged, or that a secret never was.
 * Child loggers add their bindings and write to the same lines.
 */
export class RecordingLogger implements Logger {
  constructor(
    readonly lines: string[] = [],
    private readonly bindings: Readonly<Record<string, unknown>> = {},
  ) {}

  debug(fields: object, message?: string): void {
    this.record('debug', fields, message);
  }

  info(fields: object, message?: string): void {
    this.record('info', fields, message);
  }

  warn(fields: object, message?: string): void {
    this.record('warn', fields, message);
  }

  error(fields: object, message?: string): void {
    this.record('error', fields, message);
  }

  child(bindings: Record<string, unknown>): Logger {
    return new RecordingLogger(this.lines, { ...this.bindings, ...bindings });
  }

  /** Every line so far, one per row. */
  get text(): string {
    return this.lines.join('\n');
  }

  private record(level: string, fields: object, message: string | undefined): void {
    const json = JSON.stringify({ ...this.bindings, ...fields }, (_key, value: unknown) =>
      value instanceof Error ? `${value.message} ${value.stack ?? ''}` : value,
    );
    this.lines.push(`${level} ${message ?? ''} ${json}`);
  }
}
