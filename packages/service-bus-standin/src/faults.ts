import { BrokerError } from './broker-error.js';

/**
 * Operations a test can make fail once: `send` (a message transfer is rejected), `settle` (a
 * complete / abandon / defer / dead-letter disposition is refused), `management` (a `$management`
 * request is answered with the error), `cbs` (a put-token is refused), `admin` (an ATOM request gets
 * the error's status code).
 */
export type FaultOperation = 'send' | 'settle' | 'management' | 'cbs' | 'admin';

/** The operations `failNext` accepts, for validating input from outside (the HTTP control). */
export const faultOperations: readonly FaultOperation[] = ['send', 'settle', 'management', 'cbs', 'admin'];

/** What an injected failure says: an AMQP condition and, for request/response, a status code. */
export interface InjectedFailure {
  /** Default `com.microsoft:server-busy` (retryable: the SDK tries again). */
  readonly condition?: string;
  /** Default 503. */
  readonly statusCode?: number;
  /** Default "The stand-in was told to fail this operation." */
  readonly description?: string;
}

/** Failures armed for the next operations of each kind, used up one per operation, in order. */
export class Faults {
  private readonly armed = new Map<FaultOperation, BrokerError[]>();

  /** Makes the next `operation` fail with `failure`; arming it twice fails the next two. */
  failNext(operation: FaultOperation, failure: InjectedFailure = {}): void {
    const error = new BrokerError(
      failure.condition ?? 'com.microsoft:server-busy',
      failure.description ?? 'The stand-in was told to fail this operation.',
      failure.statusCode ?? 503,
    );
    this.armed.set(operation, [...(this.armed.get(operation) ?? []), error]);
  }

  /** The failure armed for `operation`, used up; `undefined` when none is. */
  take(operation: FaultOperation): BrokerError | undefined {
    return this.armed.get(operation)?.shift();
  }
}
