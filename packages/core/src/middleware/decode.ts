import { codecFor, type Codec } from '../codec.js';
import { ErrorCodes, SluiceError } from '../errors.js';
import type { Middleware } from './invocation.js';

/**
 * Decodes the body with the codec for its content type. An unknown message type or an undecodable
 * body fails with an unrecoverable error (dead-lettered at once, reason recorded).
 */
export function decodeMiddleware(codecs: readonly Codec[], acceptedTypes: readonly string[]): Middleware {
  const accepted = new Set(acceptedTypes);
  return async (invocation, next) => {
    const { message } = invocation.delivery;
    if (!accepted.has(message.type)) {
      throw new SluiceError(
        ErrorCodes.UNKNOWN_MESSAGE_TYPE,
        `message type "${message.type}" is not handled by ${invocation.endpoint.name} (accepts ${[...accepted].join(', ')})`,
      );
    }
    invocation.payload = codecFor(codecs, message.contentType).decode(message.body);
    await next();
  };
}
