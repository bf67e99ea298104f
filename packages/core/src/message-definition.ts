/**
 * Message definitions: an explicit, versioned type name (`orders.order-placed.v1`, never a class
 * name), optional runtime validation through any Standard Schema library (zod, valibot, arktype, ...),
 * promoted properties for broker-side filtering, and upcasting from older versions.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { ErrorCodes, SluiceError } from './errors.js';
import { isValidBrokerName } from './naming.js';
import type { QueueOptions } from './transport.js';

declare const payloadMarker: unique symbol;

/** Values a definition may promote to message properties (headers) for filtering. */
export type PropertyValue = string | number | boolean;

/** A definition of a message type whose payload is `T`. Create with `defineCommand` / `defineEvent`. */
export interface MessageDefinition<T = unknown> {
  /** `command`: one consumer handles it (`bus.send`). `event`: every subscription gets a copy (`bus.publish`). */
  readonly kind: 'command' | 'event';
  /** Versioned type name, such as `orders.order-placed.v1`. */
  readonly type: string;
  /** Validates payloads on send and on receive when present. */
  readonly schema?: StandardSchemaV1<unknown, T> | undefined;
  /**
   * Properties copied into headers on send, so subscriptions can filter on them. (Method syntax on
   * purpose: it keeps `MessageDefinition<T>` assignable to `MessageDefinition<unknown>`.)
   */
  properties?(payload: T): Readonly<Record<string, PropertyValue>>;
  /** Older type names this definition accepts, each with its conversion into `T`. */
  readonly upcasters: ReadonlyMap<string, (payload: unknown) => Promise<unknown>>;
  /** Type-level only: carries `T`. */
  readonly [payloadMarker]?: T;
}

export interface CommandDefinition<T = unknown> extends MessageDefinition<T> {
  readonly kind: 'command';
  /**
   * The queue that consumes the command, when the definition names it: its `@Consumer` takes it as
   * its queue, and a sender's transport declares it (bound to the command's topic, with
   * {@link queueOptions}) before the first send, so a command sent before its consumer ever started
   * waits in the queue instead of being refused as unroutable.
   */
  readonly queue?: string | undefined;
  /** Settings of {@link queue}, declared alike by its consumer and by every sender. */
  readonly queueOptions?: QueueOptions | undefined;
}

export interface EventDefinition<T = unknown> extends MessageDefinition<T> {
  readonly kind: 'event';
}

/** The payload type of a definition. */
export type PayloadOf<D> = D extends MessageDefinition<infer T> ? T : never;

/** Converts payloads of an older definition (and of everything it upcasts) into a newer one. */
export interface Upcaster<T> {
  readonly from: MessageDefinition;
  readonly convert: (old: never) => T | Promise<T>;
}

/** Declares that a definition accepts `from`'s messages, converted with `convert`. */
export function upcast<A, T>(from: MessageDefinition<A>, convert: (old: A) => T | Promise<T>): Upcaster<T> {
  return { from: from as MessageDefinition, convert: convert as (old: never) => T | Promise<T> };
}

export interface DefinitionOptions<T> {
  readonly schema?: StandardSchemaV1<unknown, T>;
  readonly properties?: (payload: T) => Readonly<Record<string, PropertyValue>>;
  readonly upcasts?: readonly Upcaster<T>[];
}

export interface CommandDefinitionOptions<T> extends DefinitionOptions<T> {
  /**
   * The queue that consumes the command (see {@link CommandDefinition.queue}): senders declare it, so
   * the order in which services start never matters.
   */
  readonly queue?: string;
  /** Settings of `queue` (`messageTtlMs`, `maxLength`, broker-specific ones); only with `queue`. */
  readonly queueOptions?: QueueOptions;
}

type SchemaOptions<S extends StandardSchemaV1> = DefinitionOptions<StandardSchemaV1.InferOutput<S>> & {
  readonly schema: S;
};
type CommandSchemaOptions<S extends StandardSchemaV1> = CommandDefinitionOptions<
  StandardSchemaV1.InferOutput<S>
> & { readonly schema: S };

const typeNamePattern = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+\.v[1-9][0-9]*$/;

function define<T>(kind: 'command' | 'event', type: string, options: DefinitionOptions<T>) {
  if (!typeNamePattern.test(type)) {
    throw new SluiceError(
      ErrorCodes.INVALID_MESSAGE_TYPE,
      `message type "${type}" must be lower-case, dot-separated and versioned, such as "orders.order-placed.v1"`,
    );
  }
  const upcasters = new Map<string, (payload: unknown) => Promise<unknown>>();
  for (const { from, convert } of options.upcasts ?? []) {
    const run = convert as (old: unknown) => unknown;
    upcasters.set(from.type, async (raw) => run(await validatePayload(from, raw)));
    for (const [olderType, toFrom] of from.upcasters) {
      upcasters.set(olderType, async (raw) => run(await toFrom(raw)));
    }
  }
  if (upcasters.has(type)) {
    throw new SluiceError(
      ErrorCodes.INVALID_MESSAGE_TYPE,
      `message type "${type}" cannot upcast from itself`,
    );
  }
  return Object.freeze({ kind, type, schema: options.schema, properties: options.properties, upcasters });
}

/**
 * Defines a command: sent with `bus.send`, handled by exactly one `@Consumer`. With `queue`, the
 * definition names the queue that consumes it; throws `SLUICE_INVALID_OPTION` for a queue name no
 * broker takes, or `queueOptions` without `queue`.
 */
export function defineCommand<S extends StandardSchemaV1>(
  type: string,
  options: CommandSchemaOptions<S>,
): CommandDefinition<StandardSchemaV1.InferOutput<S>>;
export function defineCommand<T>(type: string, options?: CommandDefinitionOptions<T>): CommandDefinition<T>;
export function defineCommand<T>(
  type: string,
  options: CommandDefinitionOptions<T> = {},
): CommandDefinition<T> {
  const { queue, queueOptions } = options;
  if (queue !== undefined && (typeof queue !== 'string' || !isValidBrokerName(queue))) {
    throw new SluiceError(
      ErrorCodes.INVALID_OPTION,
      `defineCommand("${type}"): option "queue" must be 1-200 characters of letters, digits, ".", "_", ":" or "-" (got ${JSON.stringify(queue)})`,
    );
  }
  if (queueOptions !== undefined && queue === undefined) {
    throw new SluiceError(
      ErrorCodes.INVALID_OPTION,
      `defineCommand("${type}"): option "queueOptions" needs "queue" (the queue they are the settings of)`,
    );
  }
  const base = define('command', type, options);
  return (
    queue === undefined ? base : Object.freeze({ ...base, queue, queueOptions })
  ) as CommandDefinition<T>;
}

/** Defines an event: published with `bus.publish`, every `@EventHandler` subscription gets a copy. */
export function defineEvent<S extends StandardSchemaV1>(
  type: string,
  options: SchemaOptions<S>,
): EventDefinition<StandardSchemaV1.InferOutput<S>>;
export function defineEvent<T>(type: string, options?: DefinitionOptions<T>): EventDefinition<T>;
export function defineEvent<T>(type: string, options: DefinitionOptions<T> = {}): EventDefinition<T> {
  return define('event', type, options) as EventDefinition<T>;
}

/** Every type name a consumer of `definition` receives: its own and those it upcasts. */
export function acceptedTypes(definition: MessageDefinition): string[] {
  return [definition.type, ...definition.upcasters.keys()];
}

function formatIssues(issues: readonly StandardSchemaV1.Issue[]): string {
  return issues
    .slice(0, 5)
    .map((issue) => {
      const path = (issue.path ?? []).map((p) => String(typeof p === 'object' ? p.key : p)).join('.');
      return path === '' ? issue.message : `${path}: ${issue.message}`;
    })
    .join('; ');
}

/** Validates `payload` against the definition's schema (if any); rejects with `SLUICE_VALIDATION_FAILED`. */
export async function validatePayload<T>(definition: MessageDefinition<T>, payload: unknown): Promise<T> {
  if (definition.schema === undefined) return payload as T;
  const result = await definition.schema['~standard'].validate(payload);
  if (result.issues !== undefined) {
    throw new SluiceError(
      ErrorCodes.VALIDATION_FAILED,
      `${definition.type} payload is invalid: ${formatIssues(result.issues)}`,
    );
  }
  return result.value;
}

/**
 * Turns a decoded body of type `type` into a valid `T`: validates it, after upcasting when `type` is an
 * older version. Rejects with `SLUICE_UNKNOWN_MESSAGE_TYPE` for a type the definition does not accept.
 */
export async function readPayload<T>(
  definition: MessageDefinition<T>,
  type: string,
  raw: unknown,
): Promise<T> {
  if (type === definition.type) return validatePayload(definition, raw);
  const upcaster = definition.upcasters.get(type);
  if (upcaster === undefined) {
    throw new SluiceError(
      ErrorCodes.UNKNOWN_MESSAGE_TYPE,
      `message type "${type}" is not ${definition.type} and cannot be upcast to it`,
    );
  }
  return validatePayload(definition, await upcaster(raw));
}
