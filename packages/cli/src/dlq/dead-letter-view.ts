/** How `sluice dlq` shows dead letters: a table, or JSON with the body and every header. */
import type { DeadLetterRecord } from './dead-letter-source.js';

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

/** The fields of the table (and the start of the JSON). */
export function summary(letter: DeadLetterRecord): Record<string, unknown> {
  return {
    messageId: letter.messageId,
    type: letter.type,
    correlationId: letter.correlationId,
    reason: letter.fault?.reason ?? letter.deaths[0]?.reason ?? 'unknown',
    attempts: letter.fault?.attempts,
    failedAt: isoOf(letter.fault?.time),
    error: letter.fault === undefined ? undefined : `${letter.fault.errorType}: ${letter.fault.errorMessage}`,
    sourceQueue: letter.sourceQueue,
  };
}

/** Everything about one dead letter, the body as UTF-8 text or else base64. */
export function detail(letter: DeadLetterRecord): Record<string, unknown> {
  const body = bodyText(letter.body);
  return {
    ...summary(letter),
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

/** One row per dead letter: id, type, correlation id, reason, attempts, failure time, error (cells cut at 60). */
export function table(letters: readonly DeadLetterRecord[]): string {
  if (letters.length === 0) return '(no dead letters)';
  const rows = letters.map((letter) => {
    const s = summary(letter);
    return [
      s.messageId,
      s.type,
      s.correlationId ?? '',
      s.reason,
      s.attempts ?? '',
      s.failedAt ?? '',
      s.error ?? '',
    ].map(String);
  });
  const header = ['MESSAGE ID', 'TYPE', 'CORRELATION ID', 'REASON', 'ATTEMPTS', 'FAILED AT', 'ERROR'];
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => Math.min((r[i] ?? '').length, 60))),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.slice(0, 60).padEnd(widths[i] ?? 0)))
      .join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}
