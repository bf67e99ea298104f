/** The HTTP API alone: it only publishes, so it needs a broker (AMQP_URL) and no consumer host. */
import { Bus } from '@sluice/core';
import { createApi } from './http-api.js';
import { logger, startOrExit, transportFromEnv } from './setup.js';

if (process.env.AMQP_URL === undefined) {
  logger.error(
    {},
    'the API alone needs a broker: set AMQP_URL (or run main.js for everything in one process)',
  );
  process.exit(2);
}
await startOrExit('starter API', async () => {
  const transport = transportFromEnv();
  await transport.connect();
  const api = createApi(new Bus(transport));
  api.listen(Number(process.env.PORT ?? 3000), () =>
    logger.info({ port: process.env.PORT ?? 3000 }, 'API listening'),
  );
  const stop = () => api.close(() => void transport.close().then(() => process.exit(0)));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
});
