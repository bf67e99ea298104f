import { readPayload } from '../message-definition.js';
import type { Middleware } from './invocation.js';

/** Upcasts older versions and validates against the definition's schema (failures are unrecoverable). */
export const validateMiddleware: Middleware = async (invocation, next) => {
  invocation.payload = await readPayload(
    invocation.endpoint.message,
    invocation.delivery.message.type,
    invocation.payload,
  );
  await next();
};
