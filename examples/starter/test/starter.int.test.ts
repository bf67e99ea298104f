/**
 * The starter as its README runs it: built with its own tsconfig, on the in-memory transport; and each
 * entry point on a broker that refuses its password, which must end in one line and exit code 1.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort, startWatchedProcess } from '@sluice/testing';
import { beforeAll, expect, it } from 'vitest';
import { brokerUrl } from '../../../packages/rabbitmq/test/support/broker.js';

const run = promisify(execFile);
const starter = fileURLToPath(new URL('..', import.meta.url));
const root = fileURLToPath(new URL('../../../', import.meta.url));

beforeAll(async () => {
  await run(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', starter], {
    timeout: 120_000,
  });
}, 180_000);

it('builds with its own tsconfig, handles a sign-up end to end in memory and drains on SIGTERM', async () => {
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

it.each(['main.js', 'worker.js', 'api.js'])(
  '%s on a wrong password exits 1 with one line naming the cause, no stack, no password',
  async (entry) => {
    const wrong = 'starter-wrong-Pa55word';
    const url = new URL(brokerUrl);
    url.password = wrong;
    const service = startWatchedProcess(process.execPath, [`dist/${entry}`], {
      cwd: starter,
      env: {
        ...process.env,
        AMQP_URL: url.toString(),
        PORT: String(await freePort()),
        METRICS_PORT: String(await freePort()),
      },
    });
    try {
      expect(await service.exited).toBe(1);
      const lines = service.lines.filter((line) => line !== '');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        / ERROR starter( worker| API)? could not start reason=.*refused the login of user/,
      );
      expect(service.lines.join('\n')).not.toContain(wrong);
    } finally {
      service.kill();
    }
  },
  60_000,
);
