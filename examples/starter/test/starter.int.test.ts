/** The starter as its README runs it: built with its own tsconfig, on the in-memory transport. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort, startWatchedProcess } from '@sluice/testing';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const starter = fileURLToPath(new URL('..', import.meta.url));
const root = fileURLToPath(new URL('../../../', import.meta.url));

it('builds with its own tsconfig, handles a sign-up end to end in memory and drains on SIGTERM', async () => {
  await run(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', starter], {
    timeout: 120_000,
  });
  const port = await freePort();
  const service = startWatchedProcess(process.execPath, ['dist/main.js'], {
    cwd: starter,
    env: { ...process.env, AMQP_URL: undefined, PORT: String(port), METRICS_PORT: String(await freePort()) },
  });
  try {
    await service.waitFor('API listening', 30_000, 'the API');
    const post = (body: string) =>
      fetch(`http://127.0.0.1:${port}/signups`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
    expect((await post('{"email":"not an address"}')).status).toBe(400);
    const accepted = await post('{"email":"ada@example.com"}');
    expect(accepted.status).toBe(202);
    const { userId } = (await accepted.json()) as { userId: string };
    await service.waitFor(new RegExp(`welcome email sent .*userId=${userId}`), 30_000, 'the welcome email');
    expect(service.lines.join('\n')).toContain('transport=in-memory');
    expect(service.lines).toContain('email to ada@example.com: Welcome!');
    service.child.kill('SIGTERM');
    expect(await service.exited).toBe(0);
  } finally {
    service.kill();
  }
}, 180_000);
