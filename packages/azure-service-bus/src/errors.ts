/** SDK failures as Sluice errors with the contract's codes; every message redacted. */
import { isServiceBusError } from '@azure/service-bus';
import { ErrorCodes, SluiceError, type ErrorCode } from '@sluice/core';

const codes: Readonly<Record<string, ErrorCode>> = {
  MessageLockLost: ErrorCodes.LOCK_LOST,
  MessagingEntityNotFound: ErrorCodes.UNROUTABLE,
  MessageSizeExceeded: ErrorCodes.PUBLISH_REFUSED,
  MessagingEntityDisabled: ErrorCodes.PUBLISH_REFUSED,
  QuotaExceeded: ErrorCodes.QUEUE_FULL,
  ServiceTimeout: ErrorCodes.DEADLINE_EXCEEDED,
};

/** True for the SDK's error of a lock that is gone. */
export function isLockLost(error: unknown): boolean {
  return isServiceBusError(error) && error.code === 'MessageLockLost';
}

/** True for the SDK's error of an entity that does not exist. */
export function isEntityNotFound(error: unknown): boolean {
  return isServiceBusError(error) && error.code === 'MessagingEntityNotFound';
}

/**
 * `error` as a `SluiceError` about `what` (a Sluice error passes as it is): Service Bus codes map to
 * the contract's (a lost lock `SLUICE_LOCK_LOST`, a missing entity `SLUICE_UNROUTABLE`, a message
 * too large `SLUICE_PUBLISH_REFUSED`, a full entity `SLUICE_QUEUE_FULL`, a timeout
 * `SLUICE_DEADLINE_EXCEEDED`); an aborted operation is `SLUICE_CLOSED` when the transport is closing,
 * else `SLUICE_DEADLINE_EXCEEDED`; the rest `SLUICE_CONNECTION_LOST`.
 */
export function toSluiceError(
  error: unknown,
  what: string,
  redact: (text: string) => string,
  closing = false,
): SluiceError {
  if (error instanceof SluiceError) return error;
  const text = redact(error instanceof Error ? error.message : String(error));
  let code: ErrorCode = ErrorCodes.CONNECTION_LOST;
  if (isServiceBusError(error)) code = codes[error.code] ?? ErrorCodes.CONNECTION_LOST;
  else if ((error as { name?: unknown } | undefined)?.name === 'AbortError') {
    code = closing ? ErrorCodes.CLOSED : ErrorCodes.DEADLINE_EXCEEDED;
  } else if (closing || /has been closed|is closed/i.test(text)) code = ErrorCodes.CLOSED;
  const sbCode = isServiceBusError(error) ? ` (${error.code})` : '';
  return new SluiceError(code, `${what}: ${text}${sbCode}`);
}

/** Node's codes for a server certificate it does not trust or that names another host. */
const certificateCodes = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * A failure of `connect`'s first call to the namespace: `SLUICE_CONNECTION_REFUSED` when retrying
 * cannot fix it (HTTP 401/403 or `UnauthorizedAccess`: the key or credential; a server certificate
 * not trusted), else as {@link toSluiceError}. Redacted.
 */
export function connectError(error: unknown, what: string, redact: (text: string) => string): SluiceError {
  if (error instanceof SluiceError) return error;
  const text = redact(error instanceof Error ? error.message : String(error));
  const status = (error as { statusCode?: unknown } | undefined)?.statusCode;
  const code = (error as { code?: unknown } | undefined)?.code;
  if (status === 401 || status === 403 || code === 'UnauthorizedAccess') {
    return new SluiceError(
      ErrorCodes.CONNECTION_REFUSED,
      `${what}: Service Bus refused the key or credential${typeof status === 'number' ? ` (HTTP ${status})` : ''}: ${text}`,
    );
  }
  if (typeof code === 'string' && certificateCodes.has(code)) {
    return new SluiceError(
      ErrorCodes.CONNECTION_REFUSED,
      `${what}: the TLS certificate of the namespace is not trusted (${code}; tlsCa or NODE_EXTRA_CA_CERTS for a test CA): ${text}`,
    );
  }
  return toSluiceError(error, what, redact);
}
