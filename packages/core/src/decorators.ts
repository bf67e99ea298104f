/**
 * `@Consumer` and `@EventHandler` record what a class handles and how; the `ConsumerHost` reads the
 * record at start-up, validates it (a bad option fails there, naming the class and the option) and
 * resolves the class from the inversify container once per message. They work as standard (TC39)
 * decorators and as `experimentalDecorators` alike, detected at run time; constructor dependencies
 * come from the `inject` option, `@inject(Token)` parameter decorators or, with
 * `emitDecoratorMetadata`, the parameters' classes (see `constructor-injection.ts`).
 */
import { decoratorModeOf, type InjectionRecord } from './constructor-injection.js';
import type { EventDefinition, MessageDefinition } from './message-definition.js';
import type { ConsumerOptions, EventHandlerOptions, MessageHandler } from './types.js';

/** A class whose instances handle messages of type `T`. */
export type HandlerClass<T = unknown> = abstract new (...args: never[]) => MessageHandler<T>;

export type EndpointMetadata =
  | {
      readonly kind: 'consumer';
      readonly message: MessageDefinition;
      readonly options: ConsumerOptions;
      readonly injection: InjectionRecord;
    }
  | {
      readonly kind: 'event-handler';
      readonly message: MessageDefinition;
      readonly options: EventHandlerOptions;
      readonly injection: InjectionRecord;
    };

/**
 * A class decorator in both TypeScript modes: standard decorators call it with the class and a
 * context, `experimentalDecorators` with the class alone.
 */
export type ClassDecoratorOf<C> = (target: C, context?: ClassDecoratorContext) => void;

const registry = new WeakMap<object, EndpointMetadata>();

function record(target: object, metadata: EndpointMetadata): void {
  if (registry.has(target)) {
    const name = (target as { name?: string }).name ?? 'anonymous class';
    throw new TypeError(
      `${name} has more than one @Consumer/@EventHandler decorator; use one class per handler`,
    );
  }
  registry.set(target, metadata);
}

/**
 * Point-to-point consumer: one queue, competing consumers, each message handled by one instance.
 *
 * ```ts
 * @Consumer({ queue: 'payments', message: ChargeCard, prefetch: 20, inject: [PaymentGateway] })
 * class ChargeCardConsumer {
 *   constructor(private readonly gateway: PaymentGateway) {}
 *   async handle(cmd: ChargeCardPayload, ctx: MessageContext) { ... }
 * }
 * ```
 */
export function Consumer<T>(options: ConsumerOptions<T>): ClassDecoratorOf<HandlerClass<T>> {
  return (target, context) => {
    record(target, {
      kind: 'consumer',
      message: options.message as MessageDefinition,
      options: options as unknown as ConsumerOptions,
      injection: { mode: decoratorModeOf(context), inject: options.inject },
    });
  };
}

/** Publish-subscribe handler: its subscription gets its own queue and a copy of every matching event. */
export function EventHandler<T>(
  event: EventDefinition<T>,
  options: EventHandlerOptions,
): ClassDecoratorOf<HandlerClass<T>> {
  return (target, context) => {
    record(target, {
      kind: 'event-handler',
      message: event as MessageDefinition,
      options,
      injection: { mode: decoratorModeOf(context), inject: options.inject },
    });
  };
}

/** The decorator record of a class, or undefined when it has none. */
export function getEndpointMetadata(target: object): EndpointMetadata | undefined {
  return registry.get(target);
}
