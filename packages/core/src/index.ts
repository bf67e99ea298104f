export { BackgroundTaskQueue } from './background/background-task-queue.js';
export type { BackgroundTask, BackgroundTaskQueueOptions } from './background/background-task-queue.js';
export { PeriodicWorker, PeriodicWorkerRunner } from './background/periodic-worker.js';
export type { PeriodicTask, PeriodicTaskClass, PeriodicWorkerOptions } from './background/periodic-worker.js';
export { backoffDelay } from './backoff.js';
export { Bus } from './bus.js';
export type { BusOptions } from './bus.js';
export { codecFor, jsonCodec } from './codec.js';
export type { Codec } from './codec.js';
export { Consumer, EventHandler, getEndpointMetadata } from './decorators.js';
export type { EndpointMetadata, HandlerClass } from './decorators.js';
export { resolveEndpointConfig } from './endpoint-config.js';
export type { EndpointConfig } from './endpoint-config.js';
export type { FailedEvent, Outcome, SettledEvent } from './endpoint-runner.js';
export {
  ErrorCodes,
  hasErrorCode,
  isCopyRefused,
  isUnrecoverable,
  SluiceError,
  toError,
  UnrecoverableError,
} from './errors.js';
export type { ErrorCode } from './errors.js';
export { faultHeaders, Headers, readFault, withoutFaultHeaders } from './headers.js';
export { ConsumerHost, MessageContextToken } from './host/consumer-host.js';
export type { ConsumerHostOptions, HostEvents } from './host/consumer-host.js';
export type { OpsServerOptions } from './host/ops-server.js';
export { IdleLatch } from './idle-latch.js';
export { InMemoryIdempotencyStore } from './idempotency-store.js';
export type { Claim, IdempotencyStore } from './idempotency-store.js';
export { InMemoryBroker } from './in-memory/in-memory-broker.js';
export { InMemoryTransport } from './in-memory/in-memory-transport.js';
export type { InMemoryTransportOptions } from './in-memory/in-memory-transport.js';
export { defaultLogger, silentLogger, stderrLogger } from './logger.js';
export type { Logger, LogLevel } from './logger.js';
export {
  acceptedTypes,
  defineCommand,
  defineEvent,
  readPayload,
  upcast,
  validatePayload,
} from './message-definition.js';
export type {
  CommandDefinition,
  CommandDefinitionOptions,
  DefinitionOptions,
  EventDefinition,
  MessageDefinition,
  PayloadOf,
  PropertyValue,
  Upcaster,
} from './message-definition.js';
export { matchesFilter } from './message-filter.js';
export type { MessageFilter } from './message-filter.js';
export { currentMessageContext } from './message-scope.js';
export { Counter, Gauge, Histogram, MetricsRegistry } from './metrics-registry.js';
export type { Invocation, Middleware } from './middleware/invocation.js';
export {
  deadLetterQueueName,
  deadLetterSubQueueName,
  entityOfDeadLetterSubQueue,
  isDeadLetterQueueName,
  isRetryQueueName,
  isValidBrokerName,
  queueOfDeadLetterQueue,
  retryQueueName,
  subscriptionQueueName,
} from './naming.js';
export type { EndpointTelemetry, ProcessTrace } from './telemetry/endpoint-telemetry.js';
export type { HostGauges } from './telemetry/host-gauges.js';
export { MessagingTelemetry } from './telemetry/messaging-telemetry.js';
export type { TracingOptions } from './telemetry/messaging-telemetry.js';
export { OptionChecker } from './option-checker.js';
export { decodeComponent, parseCredentialUrl, redactUrl } from './redact-url.js';
export { SerialQueue } from './serial-queue.js';
export { untilAborted } from './timers.js';
export type * from './transport.js';
export type * from './types.js';
