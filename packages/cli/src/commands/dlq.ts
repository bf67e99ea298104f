import { DeadLetters } from '@sluice/rabbitmq';
import { parse, positiveInt, UsageError, type Command } from '../usage.js';
import { detail, table } from './dead-letter-view.js';

interface DlqArgs {
  id?: string[];
  all?: boolean;
  limit?: string;
  json?: boolean;
  url?: string;
}

const usage = `Usage: sluice dlq <list|inspect|replay> <queue> [options]

Dead letters of a queue on RabbitMQ (the dead-letter queue <queue>.dlq; the DLQ's own name works too),
through @sluice/rabbitmq's DeadLetters API. Browsing never changes the queue; a replay sends each
message back to its source queue (same message id, fault headers removed) and removes the dead letter
only after the broker confirmed the copy.

  sluice dlq list <queue> [--limit <n>] [--json]     the first n dead letters (default 100), a table or JSON
  sluice dlq inspect <queue> --id <message-id>       one dead letter as JSON: fault, deaths, headers, body
  sluice dlq replay <queue> (--id <message-id>... | --all)

Options:
  --url <amqp-url>     the broker (default: AMQP_URL); its password is never printed
  --id <message-id>    a message (repeatable for replay)
  --all                replay every dead letter of the queue
  --limit <n>          list at most n (default 100)
  --json               list as JSON
  -h, --help           this help

Exit codes: 0 done, 1 failed (a message not found or not replayed), 2 bad usage.`;

export const dlq: Command = {
  summary: 'list, inspect and replay dead-lettered messages (RabbitMQ)',
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
      },
      2,
    );
    const [action, queue] = positionals;
    if (action === undefined || queue === undefined)
      throw new UsageError('dlq: expected <list|inspect|replay> <queue>');
    if (!['list', 'inspect', 'replay'].includes(action)) {
      throw new UsageError(`dlq: unknown command "${action}" (known: list, inspect, replay)`);
    }
    const ids = values.id ?? [];
    const limit = positiveInt('dlq list', 'limit', values.limit, 100);
    if (action === 'inspect' && ids.length !== 1) throw new UsageError('dlq inspect: needs exactly one --id');
    if (action === 'replay' && (values.all ?? false) === ids.length > 0) {
      throw new UsageError('dlq replay: needs --all or at least one --id (not both)');
    }
    const tool = new DeadLetters({ url: values.url });
    try {
      if (action === 'list') {
        const letters = await tool.list(queue, { limit });
        out.stdout.write(`${values.json ? JSON.stringify(letters.map(detail), null, 2) : table(letters)}\n`);
        return 0;
      }
      if (action === 'inspect') {
        const letter = await tool.inspect(queue, ids[0] as string);
        if (letter === undefined) {
          out.stderr.write(`sluice dlq: no dead letter with id ${ids[0]} in ${DeadLetters.queueOf(queue)}\n`);
          return 1;
        }
        out.stdout.write(`${JSON.stringify(detail(letter), null, 2)}\n`);
        return 0;
      }
      const result = await tool.replay(queue, values.all ? { all: true } : { messageIds: ids });
      out.stdout.write(`replayed ${result.replayed.length} message(s) from ${DeadLetters.queueOf(queue)}\n`);
      for (const id of result.replayed) out.stdout.write(`  ${id}\n`);
      for (const { messageId, error } of result.failed)
        out.stderr.write(`sluice dlq: not replayed ${messageId}: ${error}\n`);
      if (result.notFound.length > 0)
        out.stderr.write(`sluice dlq: not found: ${result.notFound.join(', ')}\n`);
      return result.notFound.length > 0 || result.failed.length > 0 ? 1 : 0;
    } finally {
      await tool.close();
    }
  },
};
