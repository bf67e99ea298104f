/** What every entry point shares: the transport from the environment, the logger, a clean start. */
import { ErrorCodes, hasErrorCode, InMemoryTransport, stderrLogger, type Transport } from '@sluice/core';
import { RabbitMqTransport } from '@sluice/rabbitmq';

export const logger = stderrLogger('info');

/** Failures a user can act on from their message alone: a bad setting, a broker refusing or away. */
const expected = [ErrorCodes.INVALID_OPTION, ErrorCodes.CONNECTION_REFUSED, ErrorCodes.CONNECTION_LOST];

/**
 * Runs `start`; if it fails, logs one line saying why (with a stack only for the unexpected) and exits
 * with code 1, so a wrong password or an unreachable broker never ends in an unhandled rejection.
 */
export async function startOrExit(what: string, start: () => Promise<unknown>): Promise<void> {
  try {
    await start();
  } catch (error) {
    const known = expected.some((code) => hasErrorCode(error, code));
    logger.error(known ? { reason: (error as Error).message } : { err: error }, `${what} could not start`);
    process.exit(1);
  }
}

/** RabbitMQ when AMQP_URL is set, else the in-memory transport (one process only). */
export function transportFromEnv(): Transport {
  const url = process.env.AMQP_URL;
  return url === undefined ? new InMemoryTransport() : new RabbitMqTransport({ url, logger });
}
