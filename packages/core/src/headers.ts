/**
 * Header names Sluice writes on the wire, in one place so every transport and tool agrees.
 * Application headers must not start with `sluice-`.
 */
import type { Fault, FaultReason } from './transport.js';

export const Headers = {
  /** Id of the message whose handling produced this one (where the broker has no native field). */
  causationId: 'sluice-causation-id',
  /**
   * Exact send time as Unix milliseconds in decimal digits, where the broker's own timestamp holds
   * whole seconds (AMQP 0-9-1). Digits rather than ISO 8601: formatting a date per message is
   * measurable on the publish path.
   */
  sentAt: 'sluice-sent-at',
  /** Delivery attempt number on transports that count attempts in a header. */
  attempt: 'sluice-attempt',
  /** Set on a message replayed from a dead-letter queue: the time of the replay (ISO 8601). */
  replayedAt: 'sluice-replayed-at',
  /**
   * On a copy a transport republished (retry, dead letter): names of the original's headers left out
   * because the broker client could not write them back within its size limit.
   */
  droppedHeaders: 'sluice-dropped-headers',
  faultReason: 'sluice-fault-reason',
  faultErrorType: 'sluice-fault-error-type',
  faultErrorCode: 'sluice-fault-error-code',
  faultMessage: 'sluice-fault-message',
  faultStack: 'sluice-fault-stack',
  faultAttempts: 'sluice-fault-attempts',
  faultConsumer: 'sluice-fault-consumer',
  faultQueue: 'sluice-fault-queue',
  faultTime: 'sluice-fault-time',
  /** On a dead-lettered copy: the `traceparent` the message carried when it failed. */
  faultTraceparent: 'sluice-fault-traceparent',
} as const;

/** Longest fault message or stack kept in a header; brokers limit header sizes. */
const maxFaultTextLength = 2048;

function cut(text: string): string {
  return text.length <= maxFaultTextLength ? text : `${text.slice(0, maxFaultTextLength - 3)}...`;
}

/** The fault as headers, for the dead-lettered copy. */
export function faultHeaders(fault: Fault): Record<string, string> {
  const headers: Record<string, string> = {
    [Headers.faultReason]: fault.reason,
    [Headers.faultErrorType]: fault.errorType,
    [Headers.faultMessage]: cut(fault.errorMessage),
    [Headers.faultAttempts]: String(fault.attempts),
    [Headers.faultConsumer]: fault.consumer,
    [Headers.faultQueue]: fault.queue,
    [Headers.faultTime]: fault.time.toISOString(),
  };
  if (fault.errorCode !== undefined) headers[Headers.faultErrorCode] = fault.errorCode;
  if (fault.stack !== undefined) headers[Headers.faultStack] = cut(fault.stack);
  if (fault.originalTraceparent !== undefined) headers[Headers.faultTraceparent] = fault.originalTraceparent;
  return { ...headers, ...fault.traceHeaders };
}

/** Reads a fault back from dead-lettered headers; undefined when the headers carry none. */
export function readFault(headers: Readonly<Record<string, string>>): Fault | undefined {
  const reason = headers[Headers.faultReason];
  if (reason === undefined) return undefined;
  return {
    reason: reason as FaultReason,
    errorType: headers[Headers.faultErrorType] ?? 'Error',
    errorCode: headers[Headers.faultErrorCode],
    errorMessage: headers[Headers.faultMessage] ?? '',
    stack: headers[Headers.faultStack],
    attempts: Number(headers[Headers.faultAttempts] ?? '0'),
    consumer: headers[Headers.faultConsumer] ?? '',
    queue: headers[Headers.faultQueue] ?? '',
    time: new Date(headers[Headers.faultTime] ?? 0),
    originalTraceparent: headers[Headers.faultTraceparent],
  };
}

/** Headers without the fault and attempt bookkeeping, for replaying a dead-lettered message. */
export function withoutFaultHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith('sluice-fault-') && name !== Headers.attempt) kept[name] = value;
  }
  return kept;
}
