import type { Message } from 'rhea';

/** The system properties a rule can test, by their SQL filter names (`sys.Label`, ...). */
export const systemPropertyNames = [
  'MessageId',
  'CorrelationId',
  'To',
  'ReplyTo',
  'Label',
  'SessionId',
  'ReplyToSessionId',
  'ContentType',
] as const;

/** One of `systemPropertyNames`. */
export type SystemPropertyName = (typeof systemPropertyNames)[number];

/** What subscription rules look at in a message: its system and application properties. */
export interface FilterableMessage {
  readonly system: Readonly<Record<SystemPropertyName, string | undefined>>;
  readonly properties: Readonly<Record<string, unknown>>;
}

/** The filterable view of an AMQP message (ids that are numbers or binary compare as text). */
export function filterableMessage(message: Message): FilterableMessage {
  return {
    system: {
      MessageId: text(message.message_id),
      CorrelationId: text(message.correlation_id),
      To: text(message.to),
      ReplyTo: text(message.reply_to),
      Label: text(message.subject),
      SessionId: text(message.group_id),
      ReplyToSessionId: text(message.reply_to_group_id),
      ContentType: text(message.content_type),
    },
    properties: (message.application_properties ?? {}) as Record<string, unknown>,
  };
}

function text(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return Buffer.isBuffer(value) ? value.toString('hex') : String(value);
}
