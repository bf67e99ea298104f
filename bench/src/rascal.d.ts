/** The part of rascal's promise API the RabbitMQ benchmark uses (rascal ships no types). */
declare module 'rascal' {
  import type { EventEmitter } from 'node:events';

  export interface PublicationSession extends EventEmitter {
    on(event: 'success', listener: (messageId: string) => void): this;
    on(event: 'error', listener: (error: Error, messageId: string) => void): this;
    on(event: 'return', listener: (message: unknown) => void): this;
  }

  export interface SubscriberSession extends EventEmitter {
    on(
      event: 'message',
      listener: (message: unknown, content: unknown, ackOrNack: (error?: Error) => void) => void,
    ): this;
    on(event: 'error' | 'invalid_content', listener: (error: Error) => void): this;
    cancel(): Promise<void>;
  }

  export interface BrokerAsPromised extends EventEmitter {
    publish(name: string, content: Buffer, overrides?: object): Promise<PublicationSession>;
    subscribe(name: string): Promise<SubscriberSession>;
    shutdown(): Promise<void>;
  }

  const rascal: {
    BrokerAsPromised: { create(config: object): Promise<BrokerAsPromised> };
    withDefaultConfig(config: object): object;
  };
  export default rascal;
}
