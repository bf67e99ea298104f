/**
 * How the RabbitMQ transport describes itself to OpenTelemetry (messaging conventions v1.44):
 * destination names are `{exchange}:{routing key}` on send and `{exchange}:{routing key}:{queue}` on
 * consume, empty parts omitted, `amq.default` for the default exchange without a key; deliveries carry
 * their delivery tag and routing key.
 */
import type {
  Delivery,
  Destination,
  MessagingOperation,
  TransportMessage,
  TransportTelemetry,
} from '@sluice/core';
import { destinationName, ReceivedMessage } from './envelope.js';
import { RabbitMqDelivery } from './rabbitmq-delivery.js';

export class RabbitMqTelemetry implements TransportTelemetry {
  readonly system = 'rabbitmq';
  readonly operationNames: Partial<Record<MessagingOperation, string>> = { send: 'publish' };
  /** Names by queue, exchange and routing key, built once (they also key metric series). */
  private readonly names = new Map<string, Map<string, Map<string, string>>>();

  constructor(
    readonly serverAddress: string,
    readonly serverPort: number,
  ) {}

  sendDestination(destination: Destination): string {
    // Topic routing keys come from the message (see the `exchanges` option): the exchange names it.
    // Topic and queue names are what they are on the wire: no formatting needed beyond the default
    // exchange without a key.
    if ('topic' in destination) return destination.topic === '' ? 'amq.default' : destination.topic;
    return destination.queue === '' ? 'amq.default' : destination.queue;
  }

  consumeDestination(queue: string, message: TransportMessage): string {
    if (!(message instanceof ReceivedMessage)) return queue;
    const exchange = message.sourceExchange;
    const routingKey = message.sourceRoutingKey;
    let byExchange = this.names.get(queue);
    if (byExchange === undefined) this.names.set(queue, (byExchange = new Map()));
    let byKey = byExchange.get(exchange);
    if (byKey === undefined) byExchange.set(exchange, (byKey = new Map()));
    let name = byKey.get(routingKey);
    if (name === undefined) {
      name = destinationName(exchange, routingKey, queue);
      // Bounded: routing keys can be per message on topic exchanges.
      if (byKey.size < 1_000) byKey.set(routingKey, name);
    }
    return name;
  }

  deliveryAttributes(delivery: Delivery): Readonly<Record<string, string | number | boolean>> {
    if (!(delivery instanceof RabbitMqDelivery)) return {};
    const { deliveryTag, routingKey } = delivery.raw.fields;
    const attributes: Record<string, string | number> = {
      'messaging.rabbitmq.message.delivery_tag': deliveryTag,
    };
    if (routingKey !== '') attributes['messaging.rabbitmq.destination.routing_key'] = routingKey;
    return attributes;
  }
}
