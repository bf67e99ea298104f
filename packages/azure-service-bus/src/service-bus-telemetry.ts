/**
 * How the Service Bus transport describes itself to OpenTelemetry (messaging conventions v1.44):
 * `messaging.system` `servicebus`; settlement operations named as Service Bus names them
 * (`complete`, `abandon`, `dead_letter`); `Diagnostic-Id` carries the `traceparent` too (the Azure
 * SDK's own header); deliveries carry their delivery count and enqueued time.
 */
import type { Delivery, MessagingOperation, TransportTelemetry } from '@sluice/core';
import { ServiceBusDelivery } from './service-bus-delivery.js';

export class ServiceBusTelemetry implements TransportTelemetry {
  readonly system = 'servicebus';
  readonly operationNames: Partial<Record<MessagingOperation, string>> = {
    ack: 'complete',
    release: 'abandon',
    deadLetter: 'dead_letter',
  };
  readonly traceparentAliases = ['Diagnostic-Id'] as const;

  constructor(
    readonly serverAddress: string,
    readonly serverPort: number,
  ) {}

  deliveryAttributes(delivery: Delivery): Readonly<Record<string, string | number | boolean>> {
    if (!(delivery instanceof ServiceBusDelivery)) return {};
    const attributes: Record<string, number> = {
      'messaging.servicebus.message.delivery_count': delivery.deliveryCount,
    };
    const enqueued = delivery.raw.enqueuedTimeUtc?.getTime();
    if (enqueued !== undefined && Number.isFinite(enqueued))
      attributes['messaging.servicebus.message.enqueued_time'] = enqueued;
    return attributes;
  }
}
