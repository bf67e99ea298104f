/**
 * OpenTelemetry messaging semantic-convention names (v1.44, Development). Copied rather than imported
 * from `@opentelemetry/semantic-conventions/incubating`, as that package's README recommends for
 * unstable names.
 */
export const Attr = {
  messagingSystem: 'messaging.system',
  operationName: 'messaging.operation.name',
  operationType: 'messaging.operation.type',
  destinationName: 'messaging.destination.name',
  subscriptionName: 'messaging.destination.subscription.name',
  consumerGroupName: 'messaging.consumer.group.name',
  batchMessageCount: 'messaging.batch.message_count',
  messageId: 'messaging.message.id',
  conversationId: 'messaging.message.conversation_id',
  bodySize: 'messaging.message.body.size',
  clientId: 'messaging.client.id',
  rabbitmqRoutingKey: 'messaging.rabbitmq.destination.routing_key',
  rabbitmqDeliveryTag: 'messaging.rabbitmq.message.delivery_tag',
  servicebusDeliveryCount: 'messaging.servicebus.message.delivery_count',
  servicebusEnqueuedTime: 'messaging.servicebus.message.enqueued_time',
  servicebusDispositionStatus: 'messaging.servicebus.disposition_status',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  errorType: 'error.type',
} as const;

/** `messaging.operation.type` values. */
export const OperationType = {
  create: 'create',
  send: 'send',
  receive: 'receive',
  process: 'process',
  settle: 'settle',
} as const;

export const Metric = {
  processDuration: 'messaging.process.duration',
  operationDuration: 'messaging.client.operation.duration',
  sentMessages: 'messaging.client.sent.messages',
  consumedMessages: 'messaging.client.consumed.messages',
} as const;

/** Seconds; the conventions' buckets for both duration histograms. */
export const durationBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
