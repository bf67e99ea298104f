/** `sluice dlq` on Azure Service Bus: @sluice/azure-service-bus's `DeadLetters` behind the `DeadLetterSource` contract. */
import { DeadLetters } from '@sluice/azure-service-bus';
import type { DeadLetterRecord, DeadLetterSource } from './dead-letter-source.js';

/**
 * The Service Bus source for a connection string (`--connection-string`, else
 * SERVICEBUS_CONNECTION_STRING). A bad one throws `SLUICE_INVALID_OPTION` naming it, without its key.
 * The administration API is not used: a Listen/Send key is enough.
 */
export function serviceBusSource(connectionString: string): DeadLetterSource {
  const tool = new DeadLetters({ connectionString });
  const record = (letter: Awaited<ReturnType<DeadLetters['list']>>[number]): DeadLetterRecord => ({
    ...letter,
    deaths: letter.reason === undefined ? [] : [{ reason: letter.reason }],
  });
  return {
    location: tool.location,
    defaultNotice: undefined,
    deadLetterQueueOf: (queue) => DeadLetters.deadLetterQueueOf(queue),
    list: async (queue, limit) => (await tool.list(queue, { limit })).map(record),
    inspect: async (queue, messageId) => {
      const letter = await tool.inspect(queue, messageId);
      return letter === undefined ? undefined : record(letter);
    },
    replay: (queue, selection) => tool.replay(queue, selection),
    close: () => tool.close(),
  };
}
