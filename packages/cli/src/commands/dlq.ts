import type { DeadLetterSource } from '../dlq/dead-letter-source.js';
import { detail, table } from '../dlq/dead-letter-view.js';
import { rabbitMqSource } from '../dlq/rabbitmq-source.js';
import { serviceBusSource } from '../dlq/service-bus-source.js';
import { parse, positiveInt, UsageError, type Command, type Output } from '../usage.js';

interface DlqArgs {
  id?: string[];
  all?: boolean;
  limit?: string;
  json?: boolean;
  url?: string;
  'connection-string'?: string;
}

const usage = `Usage: sluice dlq <list|inspect|replay> <queue> [options]

Dead letters of a queue on RabbitMQ (the dead-letter queue <queue>.dlq), through @sluice/rabbitmq's
DeadLetters API, or on Azure Service Bus (<queue>/$DeadLetterQueue), through @sluice/azure-service-bus's;
the DLQ's own name works too. Browsing never changes the queue; a replay sends each message back to its
source queue (same message id, fault headers removed) and removes the dead letter only after the
broker accepted the copy.

  sluice dlq list <queue> [--limit <n>] [--json]     the first n dead letters (default 100), a table or JSON
  sluice dlq inspect <queue> --id <message-id>       one dead letter as JSON: fault, deaths, headers, body
  sluice dlq replay <queue> (--id <message-id>... | --all)
  sluice dlq help                                    this help

Options:
  --url <amqp-url>     the broker and vhost (default: AMQP_URL, else amqp://guest:guest@localhost:5672
                       on vhost "/", which sluice dlq then says it fell back to); its password is never
                       printed
  --connection-string <cs>
                       Azure Service Bus instead (default: SERVICEBUS_CONNECTION_STRING when neither
                       --url nor AMQP_URL is given); its key is never printed
  --id <message-id>    a message (repeatable for replay)
  --all                replay every dead letter of the queue
  --limit <n>          list at most n (default 100)
  --json               list as JSON
  -h, --help           this help

Every failure is one line naming the broker, port and vhost it looked at.
Exit codes: 0 done, 1 failed (no such queue, a message not found or not replayed), 2 bad usage.`;

/**
 * The broker to read: Service Bus for `--connection-string`, RabbitMQ for `--url`; else by the
 * environment (AMQP_URL: RabbitMQ, SERVICEBUS_CONNECTION_STRING: Service Bus); else the local RabbitMQ.
 */
function openDeadLetterSource(values: DlqArgs): DeadLetterSource {
  if (values['connection-string'] !== undefined && values.url !== undefined) {
    throw new UsageError(
      'dlq: --url (RabbitMQ) and --connection-string (Service Bus) name two brokers: give one',
    );
  }
  const connectionString =
    values['connection-string'] ??
    ((values.url ?? process.env.AMQP_URL) ? undefined : process.env.SERVICEBUS_CONNECTION_STRING);
  if (connectionString !== undefined && connectionString !== '') return serviceBusSource(connectionString);
  return rabbitMqSource(values.url, process.env);
}

/** " on <location>", and the fallback notice when nobody chose the broker. */
function where(source: DeadLetterSource): string {
  const notice = source.defaultNotice === undefined ? '' : ` (${source.defaultNotice})`;
  return ` on ${source.location}${notice}`;
}

async function perform(
  source: DeadLetterSource,
  action: string,
  queue: string,
  values: DlqArgs,
  out: Output,
): Promise<number> {
  const dlq = source.deadLetterQueueOf(queue);
  const ids = values.id ?? [];
  if (action === 'list') {
    const letters = await source.list(queue, positiveInt('dlq list', 'limit', values.limit, 100));
    out.stdout.write(`${values.json ? JSON.stringify(letters.map(detail), null, 2) : table(letters)}\n`);
    if (source.defaultNotice !== undefined) out.stderr.write(`sluice dlq: read ${dlq}${where(source)}\n`);
    return 0;
  }
  if (action === 'inspect') {
    const letter = await source.inspect(queue, ids[0] as string);
    if (letter === undefined) {
      out.stderr.write(`sluice dlq: no dead letter with id ${ids[0]} in ${dlq}${where(source)}\n`);
      return 1;
    }
    out.stdout.write(`${JSON.stringify(detail(letter), null, 2)}\n`);
    return 0;
  }
  const result = await source.replay(queue, values.all ? { all: true } : { messageIds: ids });
  out.stdout.write(`replayed ${result.replayed.length} message(s) from ${dlq}${where(source)}\n`);
  for (const id of result.replayed) out.stdout.write(`  ${id}\n`);
  for (const { messageId, error } of result.failed)
    out.stderr.write(`sluice dlq: not replayed ${messageId}: ${error}\n`);
  if (result.notFound.length > 0) out.stderr.write(`sluice dlq: not found: ${result.notFound.join(', ')}\n`);
  return result.notFound.length > 0 || result.failed.length > 0 ? 1 : 0;
}

export const dlq: Command = {
  summary: 'list, inspect and replay dead-lettered messages (RabbitMQ, Azure Service Bus)',
  help: usage,
  async run(args, out) {
    const { values, positionals } = parse<DlqArgs>(
      'dlq',
      args,
      {
        id: { type: 'string', multiple: true },
        all: { type: 'boolean' },
        limit: { type: 'string' },
        json: { type: 'boolean' },
        url: { type: 'string' },
        'connection-string': { type: 'string' },
      },
      2,
    );
    const [action, queue] = positionals;
    if (action === 'help' && queue === undefined) {
      out.stdout.write(`${usage}\n`);
      return 0;
    }
    if (action === undefined || queue === undefined)
      throw new UsageError('dlq: expected <list|inspect|replay> <queue>');
    if (!['list', 'inspect', 'replay'].includes(action)) {
      throw new UsageError(`dlq: unknown command "${action}" (known: list, inspect, replay, help)`);
    }
    const ids = values.id ?? [];
    positiveInt('dlq list', 'limit', values.limit, 100);
    if (action === 'inspect' && ids.length !== 1) throw new UsageError('dlq inspect: needs exactly one --id');
    if (action === 'replay' && (values.all ?? false) === ids.length > 0) {
      throw new UsageError('dlq replay: needs --all or at least one --id (not both)');
    }
    const source = openDeadLetterSource(values);
    try {
      return await perform(source, action, queue, values, out);
    } catch (error) {
      const message = (error as Error).message.split('\n')[0] ?? String(error);
      throw new Error(`${message}; looked${where(source)}`, { cause: error });
    } finally {
      await source.close();
    }
  },
};
