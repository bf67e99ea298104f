/** The consumer host: runs the handlers, serves /healthz, /readyz and /metrics, drains on SIGTERM. */
import { ConsumerHost, type Transport } from '@sluice/core';
import { Container } from 'inversify';
import { Mailer, SendWelcomeEmail, SignUpUserConsumer } from './handlers.js';
import { logger } from './setup.js';

export function createWorkerHost(transport: Transport): ConsumerHost {
  const container = new Container();
  container.bind(Mailer).toSelf().inSingletonScope();
  return new ConsumerHost({
    serviceName: 'starter',
    transport,
    container,
    logger,
    consumers: [SignUpUserConsumer, SendWelcomeEmail],
    http: { port: Number(process.env.METRICS_PORT ?? 9464) },
  });
}
