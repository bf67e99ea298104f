/**
 * The demo's logger: pino, with ISO 8601 times. On a terminal the lines are pretty-printed
 * (pino-pretty: time, level, message, fields); otherwise, as in a container, one JSON object per line
 * for a log shipper. `LOG_FORMAT=json|pretty` overrides the choice, `LOG_LEVEL` sets the level.
 */
import { pino, type Logger } from 'pino';

export function createLogger(env: NodeJS.ProcessEnv): Logger {
  const pretty = env.LOG_FORMAT === undefined ? process.stdout.isTTY === true : env.LOG_FORMAT === 'pretty';
  return pino({
    level: env.LOG_LEVEL ?? 'info',
    // No base fields: the host binds `service` to every line it writes.
    base: {},
    timestamp: pino.stdTimeFunctions.isoTime,
    ...(pretty
      ? {
          transport: {
            target: 'pino-pretty',
            options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'service', singleLine: true },
          },
        }
      : {}),
  });
}
