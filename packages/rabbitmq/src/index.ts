export { DeadLetters } from './dead-letters.js';
export type { ReplaySelection } from './dead-letters.js';
export { RabbitMqTransport } from './rabbitmq-transport.js';
export { redactUrl } from './redact.js';
export type {
  DeadLetter,
  DeadLettersOptions,
  DeathRecord,
  ExchangeOptions,
  ExchangeType,
  ManagementOptions,
  QueueType,
  RabbitMqEndpointOptions,
  RabbitMqTransportOptions,
  ReconnectOptions,
  ReplayResult,
  TlsOptions,
} from './types.js';
