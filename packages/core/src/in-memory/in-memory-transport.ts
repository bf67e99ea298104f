import { ErrorCodes, SluiceError } from '../errors.js';
import { deadLetterQueueName } from '../naming.js';
import type {
  DeliveryHandler,
  EndpointSpec,
  OutgoingMessage,
  Subscription,
  Transport,
  TransportCapabilities,
} from '../transport.js';
import { InMemoryBroker, type ConsumerSlot } from './in-memory-broker.js';

export interface InMemoryTransportOptions {
  /** Share one broker between transports (several "processes" in one test). Default: a private one. */
  readonly broker?: InMemoryBroker;
}

/**
 * The reference transport: every capability, in process memory. It serves tests, the embedded demo and
 * in-process domain events. Messages do not survive the process (`capabilities.durable` is false).
 */
export class InMemoryTransport implements Transport {
  readonly name = 'in-memory';
  readonly capabilities: TransportCapabilities = {
    delayedRedelivery: true,
    scheduledSend: true,
    messageTtl: true,
    durable: false,
    ordered: true,
    maxLength: true,
    brokerFilters: true,
    nativeDeadLetterQueue: false,
    brokerDeliveryCount: true,
    locks: false,
  };
  readonly broker: InMemoryBroker;
  private readonly ownsBroker: boolean;
  private readonly slots = new Set<ConsumerSlot>();
  private state: 'new' | 'connected' | 'closed' = 'new';

  constructor(options: InMemoryTransportOptions = {}) {
    this.ownsBroker = options.broker === undefined;
    this.broker = options.broker ?? new InMemoryBroker();
  }

  connect(): Promise<void> {
    this.assertOpen();
    this.state = 'connected';
    return Promise.resolve();
  }

  isConnected(): boolean {
    return this.state === 'connected';
  }

  async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    this.assertConnected();
    for (const message of messages) this.broker.publish(message);
  }

  async subscribe(endpoint: EndpointSpec, onDelivery: DeliveryHandler): Promise<Subscription> {
    this.assertConnected();
    const { broker } = this;
    broker.declareQueue(endpoint.queue, endpoint.options);
    for (const topic of endpoint.topics) broker.bind(topic, endpoint.queue, endpoint.filter);
    const slot = broker.addConsumer(endpoint.queue, endpoint.prefetch, onDelivery);
    this.slots.add(slot);
    return {
      queue: endpoint.queue,
      pause: async () => broker.setPaused(slot, true),
      resume: async () => broker.setPaused(slot, false),
      close: async () => broker.cancel(slot),
    };
  }

  async queueDepth(queue: string): Promise<number> {
    return this.broker.depth(queue);
  }

  /** `<queue>.dlq`. */
  deadLetterQueue(queue: string): string {
    return deadLetterQueueName(queue);
  }

  /** Nothing waits on a broker in memory: returns unsettled deliveries to their queues at once. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    for (const slot of this.slots) this.broker.detach(slot);
    this.slots.clear();
    if (this.ownsBroker) this.broker.dispose();
  }

  /** `publish` and `subscribe` before `connect` (a host's bus used before `host.start()`) say so. */
  private assertConnected(): void {
    this.assertOpen();
    if (this.state === 'new') {
      throw new SluiceError(
        ErrorCodes.CLOSED,
        'in-memory transport is not connected yet: call connect() first (a ConsumerHost connects in start())',
      );
    }
  }

  private assertOpen(): void {
    if (this.state === 'closed') throw new SluiceError(ErrorCodes.CLOSED, 'in-memory transport is closed');
  }
}
