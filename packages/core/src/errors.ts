/**
 * Every error Sluice throws carries a stable `code` from this registry. Classify errors with
 * {@link hasErrorCode} or by `name`, never with `instanceof` only: two copies of a package in one
 * process each have their own classes.
 */
export const ErrorCodes = {
  /** A decorator or host option is invalid; thrown at start-up, names the class and the option. */
  INVALID_OPTION: 'SLUICE_INVALID_OPTION',
  /** A message type name is not of the form `domain.name.vN`. */
  INVALID_MESSAGE_TYPE: 'SLUICE_INVALID_MESSAGE_TYPE',
  /** The body could not be decoded by the codec (for example malformed JSON). Dead-lettered at once. */
  DECODE_FAILED: 'SLUICE_DECODE_FAILED',
  /** The message type is neither the consumer's type nor one it can upcast. Dead-lettered at once. */
  UNKNOWN_MESSAGE_TYPE: 'SLUICE_UNKNOWN_MESSAGE_TYPE',
  /** The payload failed its Standard Schema validation. Dead-lettered at once on receive; thrown on send. */
  VALIDATION_FAILED: 'SLUICE_VALIDATION_FAILED',
  /** Thrown by handlers to skip retries and dead-letter at once. */
  UNRECOVERABLE: 'SLUICE_UNRECOVERABLE',
  /** A handler ran longer than its `timeoutMs` (reported once the call returned). Retried like any other failure. */
  HANDLER_TIMEOUT: 'SLUICE_HANDLER_TIMEOUT',
  /** A mandatory message matched no queue. */
  UNROUTABLE: 'SLUICE_UNROUTABLE',
  /** An operation was attempted on a closed transport, bus, host or queue. */
  CLOSED: 'SLUICE_CLOSED',
  /** The background task queue is at capacity and was configured to reject. */
  QUEUE_FULL: 'SLUICE_QUEUE_FULL',
  /** A wait (for a queue slot, for an outage to end, for a drain) passed its deadline. */
  DEADLINE_EXCEEDED: 'SLUICE_DEADLINE_EXCEEDED',
  /** The handler's work was abandoned because the host is shutting down. Redelivered later. */
  SHUTTING_DOWN: 'SLUICE_SHUTTING_DOWN',
  /** Another delivery of the same message id is being handled right now (idempotency); retried later. */
  IN_PROGRESS: 'SLUICE_IN_PROGRESS',
  /**
   * The broker refused this one message itself (RabbitMQ closes the channel on it: a property or size
   * it does not accept, a routing key the user may not publish to); sending it again fails the same way.
   */
  PUBLISH_REFUSED: 'SLUICE_PUBLISH_REFUSED',
  /** The transport lost its broker connection and could not complete the operation. */
  CONNECTION_LOST: 'SLUICE_CONNECTION_LOST',
  /**
   * The broker refused the connection in a way retrying cannot fix: the login (wrong user name or
   * password), the virtual host (missing, or the user has no access to it), or the TLS handshake (a
   * certificate refused on either side). Thrown by `connect()` at once, without retrying; the message
   * names the cause (never the password).
   */
  CONNECTION_REFUSED: 'SLUICE_CONNECTION_REFUSED',
  /**
   * The broker took a delivery back: its lock ran out or could not be renewed (Service Bus peek-lock).
   * The delivery's signal (and so the handler's `ctx.signal`) aborts with it, settling it rejects with
   * it, and the broker redelivers the message.
   */
  LOCK_LOST: 'SLUICE_LOCK_LOST',
  /**
   * A database transaction Sluice opened around application code (an inbox handler call, a unit of
   * work's `run`) could not commit: a statement in it failed and the code caught the error (the
   * database then rolls the whole transaction back), or the code ended the transaction itself (its
   * own COMMIT or ROLLBACK). Retried like any other failure.
   */
  TRANSACTION_ABORTED: 'SLUICE_TRANSACTION_ABORTED',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Base class of every error Sluice throws. */
export class SluiceError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'SluiceError';
  }
}

/**
 * Throw from a handler when retrying cannot help (a business rule rejects the message, a referenced
 * record does not exist). The message goes to the dead-letter queue at once with reason `unrecoverable`.
 */
export class UnrecoverableError extends SluiceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.UNRECOVERABLE, message, options);
    this.name = 'UnrecoverableError';
  }
}

/** True when `error` carries the given Sluice code, whichever copy of the package created it. */
export function hasErrorCode(error: unknown, code: ErrorCode): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}

const unrecoverableCodes: ReadonlySet<string> = new Set([
  ErrorCodes.UNRECOVERABLE,
  ErrorCodes.DECODE_FAILED,
  ErrorCodes.UNKNOWN_MESSAGE_TYPE,
  ErrorCodes.VALIDATION_FAILED,
]);

/**
 * True for failures that retrying cannot fix: {@link UnrecoverableError} (by name or code), decode,
 * unknown-type and validation failures.
 */
export function isUnrecoverable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, name } = error as { code?: unknown; name?: unknown };
  return name === 'UnrecoverableError' || (typeof code === 'string' && unrecoverableCodes.has(code));
}

/**
 * True when a settlement's copy (a retry or dead-letter copy) was refused for good: the broker refused
 * the message itself (`SLUICE_PUBLISH_REFUSED`) or the transport's publish checks did
 * (`SLUICE_INVALID_OPTION`). Sending it again fails the same way; the delivery stays unsettled and
 * settleable (see `Delivery` in transport.ts).
 */
export function isCopyRefused(error: unknown): boolean {
  return hasErrorCode(error, ErrorCodes.PUBLISH_REFUSED) || hasErrorCode(error, ErrorCodes.INVALID_OPTION);
}

/** Normalises anything thrown into an Error, so `name`, `message` and `stack` are always there. */
export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  if (typeof thrown === 'object' && thrown !== null) {
    try {
      return new Error(JSON.stringify(thrown));
    } catch {
      return new Error(Object.prototype.toString.call(thrown));
    }
  }
  return new Error(String(thrown));
}
