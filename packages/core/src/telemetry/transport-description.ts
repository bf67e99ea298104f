/**
 * A transport's `TransportTelemetry` with the defaults applied: its `messaging.system`, operation and
 * destination names, broker attributes, and how it carries W3C trace context in message headers
 * (`traceparent` plus aliases such as Service Bus `Diagnostic-Id`).
 */
import { propagation, ROOT_CONTEXT, type Context, type TextMapGetter } from '@opentelemetry/api';
import type { Delivery, Destination, MessagingOperation, Transport, TransportMessage } from '../transport.js';

const defaultOperationNames: Record<MessagingOperation, string> = {
  send: 'send',
  ack: 'ack',
  retry: 'retry',
  deadLetter: 'dead_letter',
  release: 'release',
};

type Headers = Readonly<Record<string, string>>;

/** Reads `traceparent` from an alias header when it is absent. */
function headerGetter(aliases: readonly string[]): TextMapGetter<Headers> {
  return {
    keys: (carrier) => Object.keys(carrier),
    get(carrier, key) {
      const value = carrier[key];
      if (value !== undefined || key !== 'traceparent') return value;
      for (const alias of aliases) if (carrier[alias] !== undefined) return carrier[alias];
      return undefined;
    },
  };
}

export class TransportDescription {
  /** `messaging.system`: the transport's own, else its name. */
  readonly system: string;
  /** `messaging.operation.name` per operation. */
  readonly operationNames: Record<MessagingOperation, string>;
  readonly serverAddress: string | undefined;
  readonly serverPort: number | undefined;
  /** The broker moves dead letters itself (`capabilities.nativeDeadLetterQueue`): nothing is sent. */
  readonly nativeDeadLetterQueue: boolean;
  private readonly aliases: readonly string[];
  private readonly getter: TextMapGetter<Headers>;

  constructor(private readonly transport: Transport) {
    const described = transport.telemetry;
    this.system = described?.system ?? transport.name;
    this.operationNames = { ...defaultOperationNames, ...described?.operationNames };
    this.serverAddress = described?.serverAddress;
    this.serverPort = described?.serverPort;
    this.nativeDeadLetterQueue = transport.capabilities.nativeDeadLetterQueue;
    this.aliases = described?.traceparentAliases ?? [];
    this.getter = headerGetter(this.aliases);
  }

  /** `messaging.destination.name` of a publish. */
  sendDestination(destination: Destination): string {
    return (
      this.transport.telemetry?.sendDestination?.(destination) ??
      ('topic' in destination ? destination.topic : destination.queue)
    );
  }

  /** `messaging.destination.name` of the dead-letter send for `queue`: its dead-letter queue, as sent to. */
  deadLetterDestination(queue: string): string {
    return this.sendDestination({ queue: this.transport.deadLetterQueue(queue) });
  }

  /** `messaging.destination.name` of a delivery from `queue`. */
  consumeDestination(queue: string, message: TransportMessage): string {
    return this.transport.telemetry?.consumeDestination?.(queue, message) ?? queue;
  }

  /** Broker attributes of a delivery (delivery tag, delivery count, ...). */
  deliveryAttributes(delivery: Delivery): Readonly<Record<string, string | number | boolean>> | undefined {
    return this.transport.telemetry?.deliveryAttributes?.(delivery);
  }

  /** Writes the trace context of `from` into `headers`, `traceparent` also under each alias. */
  inject(from: Context, headers: Record<string, string>): void {
    propagation.inject(from, headers);
    const traceparent = headers.traceparent;
    if (traceparent !== undefined) for (const alias of this.aliases) headers[alias] = traceparent;
  }

  /** The producer's context from a message's headers. */
  extract(headers: Headers): Context {
    return propagation.extract(ROOT_CONTEXT, headers, this.getter);
  }

  /** The `traceparent` a message carries (or its alias). */
  traceparent(headers: Headers): string | undefined {
    return this.getter.get(headers, 'traceparent') as string | undefined;
  }
}
