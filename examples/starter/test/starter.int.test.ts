/**
 * The starter as its README runs it: built with its own tsconfig, on the in-memory transport; the API
 * alone on RabbitMQ taking sign-ups before the worker ever ran; and each entry point on a broker that
 * refuses its password, which must end in one line and exit code 1.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort, startWatchedProcess } from '@sluice/testing';
import { beforeAll, expect, it } from 'vitest';
import { brokerUrl, TestVhost } from '../../../packages/rabbitmq/test/support/broker.js';

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
    // The mailer writes to stdout, the logger to stderr: either may be read first.
    await service.waitFor('email to ada@example.com: Welcome!', 5_000, "the mailer's line");
    expect(service.lines.join('\n')).toContain('transport=in-memory');
    service.child.kill('SIGTERM');
    expect(await service.exited).toBe(0);
  } finally {
    service.kill();
  }
}, 180_000);

it('takes a sign-up on the API alone before any worker ran; the worker started later handles it', async () => {
  const vhost = await TestVhost.create('sluice-starter');
  const env = { ...process.env, AMQP_URL: vhost.url };
  const port = await freePort();
  const api = startWatchedProcess(process.execPath, ['dist/api.js'], {
    cwd: starter,
    env: { ...env, PORT: String(port) },
  });
  let worker: ReturnType<typeof startWatchedProcess> | undefined;
  try {
    await api.waitFor('API listening', 30_000, 'the API');
    const accepted = await fetch(`http://127.0.0.1:${port}/signups`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"email":"grace@example.com"}',
    });
    expect(accepted.status).toBe(202);
    const { userId } = (await accepted.json()) as { userId: string };
    worker = startWatchedProcess(process.execPath, ['dist/worker.js'], {
      cwd: starter,
      env: { ...env, METRICS_PORT: String(await freePort()) },
    });
    await worker.waitFor(new RegExp(`welcome email sent .*userId=${userId}`), 30_000, 'the welcome email');
    await worker.waitFor('email to grace@example.com: Welcome!', 5_000, "the mailer's line");
    worker.child.kill('SIGTERM');
    api.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(await api.exited).toBe(0);
  } finally {
    worker?.kill();
    api.kill();
    await vhost.delete();
  }
}, 120_000);

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
