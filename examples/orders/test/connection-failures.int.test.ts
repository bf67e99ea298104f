/**
 * The demo run as a user runs it, pointed at a broker it cannot use: a wrong password and a missing
 * vhost fail at once with one line naming the cause (never the password); a port with nothing
 * listening is retried quietly until AMQP_CONNECT_TIMEOUT_MS, then the same kind of line. Each exits
 * with code 1, with no stack and no unhandled rejection.
 */
import { freePort } from '@sluice/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TestUser, TestVhost, vhostUrl } from '../../../packages/rabbitmq/test/support/broker.js';
import { startDemo, type LogLine } from './support/demo-process.js';

const password = 'demo-s3cret-Pa55word';
let vhost: TestVhost;
let user: TestUser;

beforeAll(async () => {
  vhost = await TestVhost.create('sluice-demo-refused');
  user = await TestUser.create('sluice-demo-refused', password, vhost);
});

afterAll(async () => {
  await user.delete();
  await vhost.delete();
});

/** `url` with `username` and `secret` as its credentials. */
function withCredentials(url: string, username: string, secret: string): string {
  const parsed = new URL(url);
  parsed.username = encodeURIComponent(username);
  parsed.password = encodeURIComponent(secret);
  return parsed.toString();
}

/** Runs the demo against `amqpUrl` until it exits; returns its exit code, output and JSON lines. */
async function runDemo(amqpUrl: string, env: Record<string, string> = {}) {
  const demo = await startDemo({ AMQP_URL: amqpUrl, SEED_ORDERS: '0', ...env });
  const code = await demo.exited;
  return { code, output: demo.output.join('\n'), logs: demo.logs, elapsedMs: Date.now() - demo.started };
}

/** What every refused start shows: one error line, no stack, no unhandled rejection. */
function expectOneCleanLine(run: { code: number | null; output: string; logs: LogLine[] }): LogLine {
  expect(run.code).toBe(1);
  const errors = run.logs.filter((l) => Number(l.level) >= 50);
  expect(errors).toHaveLength(1);
  const [line] = errors as [LogLine];
  expect(line.msg).toBe('orders demo could not start');
  // No line carries an error object (pino writes its stack) and no stack reached the output raw.
  expect(run.logs.filter((l) => l.err !== undefined)).toEqual([]);
  expect(run.output).not.toMatch(/\n\s+at /);
  expect(run.output).not.toMatch(/unhandled|UnhandledPromiseRejection|triggerUncaughtException/i);
  // Every line the process wrote is a log line: nothing printed by Node itself.
  expect(run.output.split('\n').filter((l) => l !== '' && !l.startsWith('{'))).toEqual([]);
  return line;
}

it('a wrong password: one line naming the user and the refused login, at once', async () => {
  const wrong = 'not-the-Pa55word';
  const run = await runDemo(withCredentials(vhost.url, user.name, wrong));
  const line = expectOneCleanLine(run);
  expect(line.reason).toContain(`refused the login of user "${user.name}"`);
  expect(line.reason).toContain('wrong user name or password');
  expect(run.logs.filter((l) => String(l.msg).includes('retrying'))).toEqual([]);
  expect(run.output).not.toContain(wrong);
  expect(run.output).not.toContain(encodeURIComponent(wrong));
  // Without retrying for the 30 s connect timeout.
  expect(run.elapsedMs).toBeLessThan(20_000);
}, 60_000);

it('a vhost that does not exist: one line naming the vhost and the user', async () => {
  const run = await runDemo(withCredentials(vhostUrl(`${vhost.name}-missing`), user.name, password));
  const line = expectOneCleanLine(run);
  expect(line.reason).toContain(
    `refused to open virtual host "${vhost.name}-missing" for user "${user.name}"`,
  );
  expect(line.reason).toContain('does not exist');
  expect(line.reason).not.toContain('Expected ConnectionOpenOk');
  expect(run.output).not.toContain(password);
  expect(run.output).not.toContain(encodeURIComponent(password));
  expect(run.elapsedMs).toBeLessThan(20_000);
}, 60_000);

it('a port with nothing listening: retried quietly until AMQP_CONNECT_TIMEOUT_MS, then one line', async () => {
  const port = await freePort();
  const run = await runDemo(`amqp://${user.name}:${encodeURIComponent(password)}@127.0.0.1:${port}/`, {
    AMQP_CONNECT_TIMEOUT_MS: '3000',
  });
  const line = expectOneCleanLine(run);
  expect(line.reason).toContain('within 3000 ms');
  expect(line.reason).toContain(`ECONNREFUSED 127.0.0.1:${port}`);
  // One warning at the first failed attempt (a summary would follow every 10 attempts), no stack.
  const warnings = run.logs.filter((l) => Number(l.level) === 40);
  expect(warnings.length).toBeGreaterThanOrEqual(1);
  expect(warnings.length).toBeLessThanOrEqual(3);
  expect(warnings[0]).toMatchObject({ msg: 'cannot connect to RabbitMQ; retrying', attempts: 1 });
  expect(run.output).not.toContain(password);
}, 60_000);

it('a malformed AMQP_CONNECT_TIMEOUT_MS: one line naming the variable', async () => {
  const run = await runDemo(vhost.url, { AMQP_CONNECT_TIMEOUT_MS: 'soon' });
  const line = expectOneCleanLine(run);
  expect(line.reason).toContain('AMQP_CONNECT_TIMEOUT_MS must be a whole number');
}, 60_000);
