import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { ChangeSignal } from '@sluice/testing';

const fixture = fileURLToPath(new URL('./fixtures/slow-consumer-process.mjs', import.meta.url));

it('on SIGTERM, lets a slow handler finish and settle, then exits 0', async () => {
  const child = spawn(process.execPath, [fixture, '600'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const events: string[] = [];
  const changed = new ChangeSignal();
  let buffered = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      const { event, outcome } = JSON.parse(line) as { event: string; outcome?: string };
      events.push(outcome === undefined ? event : `${event}:${outcome}`);
    }
    changed.notify();
  });
  // 'close', not 'exit': by then stdout has been read to the end.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));

  await changed.until(() => (events.includes('handler-start') ? true : undefined), 10_000, 'handler-start');
  child.kill('SIGTERM');
  const code = await exited;

  expect(code).toBe(0);
  expect(events).toEqual([
    'started',
    'handler-start',
    'stopping',
    'handler-end',
    'settled:handled',
    'stopped',
  ]);
});
