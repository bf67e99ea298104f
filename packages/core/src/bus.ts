/**
 * The producer API: `send` a command to its one consumer, `publish` an event to every subscription.
 * Inside a handler the bus carries the current message's correlation id and makes it the causation of
 * what is sent.
 */
import { randomUUID } from 'node:crypto';
import { jsonCodec, type Codec } from './codec.js';
import { ErrorCodes, SluiceError } from './errors.js';
import {
  validatePayload,
  type CommandDefinition,
  type EventDefinition,
  type MessageDefinition,
} from './message-definition.js';
import { currentMessageContext } from './message-scope.js';
import type { MetricsRegistry } from './metrics-registry.js';
import { MessagingTelemetry, type TracingOptions } from './telemetry/messaging-telemetry.js';
import type { TracedMessage } from './telemetry/send-telemetry.js';
import type { Destination, Transport } from './transport.js';
import type { SendOptions } from './types.js';

export interface BusOptions {
  /** Encodes payloads. Default JSON. */
  readonly codec?: Codec;
  /** Span ownership (see `TracingOptions`). */
  readonly tracing?: TracingOptions;
  /** Where the sent-message and operation-duration metrics go besides OpenTelemetry. */
  readonly metrics?: MetricsRegistry;
}

/** The topic of a definition, with the queue that consumes it when a command names one. */
function destinationOf(definition: MessageDefinition): Destination {
  const { queue } = definition as CommandDefinition;
  if (definition.kind !== 'command' || queue === undefined) return { topic: definition.type };
  return {
    topic: definition.type,
    consumerQueue: { queue, options: (definition as CommandDefinition).queueOptions },
  };
}

/** Options of a call that passed none (one object, not one per call). */
const noOptions: SendOptions = Object.freeze({});

export class Bus {
  private readonly codec: Codec;
  private readonly telemetry: MessagingTelemetry;

  constructor(
    private readonly transport: Transport,
    options: BusOptions = {},
  ) {
    this.codec = options.codec ?? jsonCodec;
    this.telemetry = new MessagingTelemetry(transport, options.tracing, options.metrics);
  }

  /**
   * Sends a command to the queue that consumes it. Validates the payload first (rejects with
   * `SLUICE_VALIDATION_FAILED`); resolves when the broker accepted the message. A command defined
   * with `queue` is kept in that queue (the transport declares it) until its consumer takes it, even
   * if the consumer has never started; without `queue`, the send rejects with `SLUICE_UNROUTABLE`
   * when no queue consumes the command yet.
   */
  send<T>(command: CommandDefinition<T>, payload: T, options: SendOptions = noOptions): Promise<void> {
    return this.sendOne(command, payload, options, true);
  }

  /** Sends several commands of one type in one transport call; all accepted or the call rejects. */
  async sendBatch<T>(
    command: CommandDefinition<T>,
    payloads: readonly T[],
    options: Omit<SendOptions, 'messageId'> = noOptions,
  ): Promise<void> {
    const valid = await this.validateAll(command, payloads);
    await this.telemetry.publish(valid.map((p) => this.toMessage(command, p, options, true)));
  }

  /**
   * Publishes an event to every subscription of its type. Validates the payload first; resolves when
   * the broker accepted the message. An event nobody subscribes to yet is not an error.
   */
  publish<T>(event: EventDefinition<T>, payload: T, options: SendOptions = noOptions): Promise<void> {
    return this.sendOne(event, payload, options, false);
  }

  /** Publishes several events of one type in one transport call. */
  async publishBatch<T>(
    event: EventDefinition<T>,
    payloads: readonly T[],
    options: Omit<SendOptions, 'messageId'> = noOptions,
  ): Promise<void> {
    const valid = await this.validateAll(event, payloads);
    await this.telemetry.publish(valid.map((p) => this.toMessage(event, p, options, false)));
  }

  // Not async: without a schema nothing is awaited, which keeps the per-message publish path short.
  private sendOne<T>(
    definition: MessageDefinition<T>,
    payload: T,
    options: SendOptions,
    mandatory: boolean,
  ): Promise<void> {
    try {
      if (definition.schema === undefined) {
        return this.telemetry.publish([this.toMessage(definition, payload, options, mandatory)]);
      }
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return validatePayload(definition, payload).then((valid) =>
      this.telemetry.publish([this.toMessage(definition, valid, options, mandatory)]),
    );
  }

  private validateAll<T>(
    definition: MessageDefinition<T>,
    payloads: readonly T[],
  ): readonly T[] | Promise<T[]> {
    return definition.schema === undefined
      ? payloads
      : Promise.all(payloads.map((p) => validatePayload(definition, p)));
  }

  private toMessage<T>(
    definition: MessageDefinition<T>,
    valid: T,
    options: SendOptions,
    mandatory: boolean,
  ): TracedMessage {
    // Guarded: a send without headers or promoted properties builds no arrays for them.
    const headers: Record<string, string> = {};
    if (options.headers !== undefined) {
      for (const [name, value] of Object.entries(options.headers)) {
        if (name.startsWith('sluice-')) {
          throw new SluiceError(
            ErrorCodes.INVALID_OPTION,
            `header "${name}": the sluice- prefix is reserved`,
          );
        }
        headers[name] = value;
      }
    }
    const properties = definition.properties?.(valid);
    if (properties !== undefined) {
      for (const [name, value] of Object.entries(properties)) headers[name] = String(value);
    }

    const now = Date.now();
    const notBefore = options.deliverAt ?? (options.delayMs ? new Date(now + options.delayMs) : undefined);
    if (notBefore !== undefined && !this.transport.capabilities.scheduledSend) {
      throw new SluiceError(
        ErrorCodes.INVALID_OPTION,
        `transport ${this.transport.name} cannot schedule messages`,
      );
    }
    const current = currentMessageContext();
    const messageId = options.messageId ?? randomUUID();
    return {
      messageId,
      type: definition.type,
      contentType: this.codec.contentType,
      correlationId: options.correlationId ?? current?.correlationId ?? current?.messageId ?? messageId,
      causationId: current?.messageId,
      sentAt: new Date(now),
      headers,
      body: this.codec.encode(valid),
      destination: destinationOf(definition),
      mandatory,
      notBefore,
      ttlMs: options.ttlMs,
    };
  }
}
