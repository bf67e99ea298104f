export { AzureServiceBusTransport } from './azure-service-bus-transport.js';
export { ServiceBusDelivery } from './service-bus-delivery.js';
export type {
  AzureServiceBusTransportOptions,
  DeadLetter,
  DeadLettersOptions,
  ReplayResult,
  ServiceBusConnectionOptions,
  ServiceBusCredential,
  ServiceBusRetryOptions,
} from './types.js';
export { DeadLetters } from './dead-letters.js';
export type { ReplaySelection } from './dead-letters.js';
