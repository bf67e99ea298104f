#!/usr/bin/env node
/**
 * `sluice-rabbitmq-dlq`: list, inspect and replay dead-lettered messages from the command line.
 *
 *   sluice-rabbitmq-dlq list <queue> [--limit 100] [--json]
 *   sluice-rabbitmq-dlq inspect <queue> --id <messageId>
 *   sluice-rabbitmq-dlq replay <queue> (--id <messageId>... | --all)
 *
 * The broker comes from `--url` or the `AMQP_URL` environment variable. Exit codes: 0 done, 1 failed
 * (or a requested message was not found), 2 bad usage.
 */
import { parseArgs } from 'node:util';
import { DeadLetters } from './dead-letters.js';
import { decodeComponent, parseCredentialUrl, Redactor } from './redact.js';
import type { DeadLetter } from './types.js';

const usage = `usage:
  sluice-rabbitmq-dlq list <queue> [--limit <n>] [--json] [--url <amqp-url>]
  sluice-rabbitmq-dlq inspect <queue> --id <message-id> [--url <amqp-url>]
  sluice-rabbitmq-dlq replay <queue> (--id <message-id>... | --all) [--url <amqp-url>]
<queue> is the consumed queue (its dead-letter queue is <queue>.dlq) or the dead-letter queue itself.
The broker URL defaults to the AMQP_URL environment variable.`;

class UsageError extends Error {}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function bodyText(body: Uint8Array): { encoding: 'utf8' | 'base64'; text: string } {
  try {
    return { encoding: 'utf8', text: utf8.decode(body) };
  } catch {
    return { encoding: 'base64', text: Buffer.from(body).toString('base64') };
  }
}

/** ISO 8601, or undefined for a missing or invalid date (a dead letter may carry any header). */
function isoOf(date: Date | undefined): string | undefined {
  return date !== undefined && Number.isFinite(date.getTime()) ? date.toISOString() : undefined;
}

function summary(letter: DeadLetter): Record<string, unknown> {
  return {
    messageId: letter.messageId,
    type: letter.type,
    reason: letter.fault?.reason ?? letter.deaths[0]?.reason ?? 'unknown',
    attempts: letter.fault?.attempts,
    failedAt: isoOf(letter.fault?.time),
    error: letter.fault === undefined ? undefined : `${letter.fault.errorType}: ${letter.fault.errorMessage}`,
    sourceQueue: letter.sourceQueue,
  };
}

function detail(letter: DeadLetter): Record<string, unknown> {
  const body = bodyText(letter.body);
  return {
    ...summary(letter),
    correlationId: letter.correlationId,
    sentAt: isoOf(letter.sentAt),
    contentType: letter.contentType,
    fault: letter.fault,
    deaths: letter.deaths,
    problems: letter.problems,
    headers: letter.headers,
    bodyEncoding: body.encoding,
    body: body.text,
  };
}

function table(letters: readonly DeadLetter[]): string {
  if (letters.length === 0) return '(no dead letters)';
  const rows = letters.map((letter) => {
    const s = summary(letter);
    return [s.messageId, s.type, s.reason, s.attempts ?? '', s.failedAt ?? '', s.error ?? ''].map(String);
  });
  const header = ['MESSAGE ID', 'TYPE', 'REASON', 'ATTEMPTS', 'FAILED AT', 'ERROR'];
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => Math.min((r[i] ?? '').length, 60))),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.slice(0, 60).padEnd(widths[i] ?? 0)))
      .join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        id: { type: 'string', multiple: true },
        all: { type: 'boolean', default: false },
        limit: { type: 'string' },
        json: { type: 'boolean', default: false },
        url: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  secrets = new Redactor([passwordOf(values.url), passwordOf(process.env.AMQP_URL)]);
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const [command, queue, ...extra] = positionals;
  if (command === undefined || queue === undefined || extra.length > 0)
    throw new UsageError('expected a command and a queue');
  const ids = values.id ?? [];
  const tool = new DeadLetters({ url: values.url });
  try {
    switch (command) {
      case 'list': {
        const limit = values.limit === undefined ? 100 : Number(values.limit);
        if (!Number.isInteger(limit) || limit < 1)
          throw new UsageError('--limit must be a whole number >= 1');
        const letters = await tool.list(queue, { limit });
        console.log(values.json ? JSON.stringify(letters.map(detail), null, 2) : table(letters));
        return 0;
      }
      case 'inspect': {
        if (ids.length !== 1) throw new UsageError('inspect needs exactly one --id');
        const letter = await tool.inspect(queue, ids[0] as string);
        if (letter === undefined) {
          console.error(`no dead letter with id ${ids[0]} in ${DeadLetters.queueOf(queue)}`);
          return 1;
        }
        console.log(JSON.stringify(detail(letter), null, 2));
        return 0;
      }
      case 'replay': {
        if (values.all === ids.length > 0)
          throw new UsageError('replay needs --all or at least one --id (not both)');
        const result = await tool.replay(queue, values.all ? { all: true } : { messageIds: ids });
        console.log(`replayed ${result.replayed.length} message(s) from ${DeadLetters.queueOf(queue)}`);
        for (const id of result.replayed) console.log(`  ${id}`);
        for (const { messageId, error } of result.failed)
          console.error(`not replayed ${messageId}: ${error}`);
        if (result.notFound.length > 0) console.error(`not found: ${result.notFound.join(', ')}`);
        return result.notFound.length > 0 || result.failed.length > 0 ? 1 : 0;
      }
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } finally {
    await tool.close();
  }
}

let secrets = new Redactor([]);

function passwordOf(url: string | undefined): string | undefined {
  const parsed = url === undefined ? undefined : parseCredentialUrl(url);
  return parsed === undefined ? undefined : decodeComponent(parsed.password) || undefined;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      console.error(`${secrets.text(error.message)}\n${usage}`);
      process.exitCode = 2;
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    console.error(`sluice-rabbitmq-dlq: ${secrets.text(message)}`);
    process.exitCode = 1;
  },
);
