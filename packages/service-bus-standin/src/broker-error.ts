/**
 * A refusal the stand-in reports to a client: the AMQP error condition (on a link, a disposition or
 * a `$management` reply) and the HTTP-like status code (`$management` replies, the ATOM API), with a
 * description worded like Service Bus's where the SDK reads it (the SDK recognises a missing entity
 * by "The messaging entity '...' could not be found").
 */
export class BrokerError extends Error {
  override readonly name = 'BrokerError';

  constructor(
    readonly condition: string,
    message: string,
    readonly statusCode: number,
  ) {
    super(message);
  }
}

/** The lock token is unknown, expired, or its message is gone (`MessageLockLost` in the SDK). */
export function lockLostError(): BrokerError {
  return new BrokerError(
    'com.microsoft:message-lock-lost',
    'The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.',
    410,
  );
}

/** No message with that sequence number in the expected state (`MessageNotFound` in the SDK). */
export function messageNotFoundError(detail: string): BrokerError {
  return new BrokerError('com.microsoft:message-not-found', detail, 404);
}

/** No such queue, topic, subscription or rule (`MessagingEntityNotFound` in the SDK). */
export function entityNotFoundError(path: string): BrokerError {
  return new BrokerError('amqp:not-found', `The messaging entity '${path}' could not be found.`, 404);
}

/** A request the stand-in understands but refuses (bad argument, unsupported feature). */
export function badRequestError(detail: string): BrokerError {
  return new BrokerError('com.microsoft:argument-error', detail, 400);
}
