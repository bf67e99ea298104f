/**
 * Compiles one small app per TypeScript decorator mode with the compiler settings a user of that mode
 * has (not vitest's transform, which emits no decorator metadata) and runs it: a decorated consumer
 * and event handler, end to end on the in-memory transport, and the standard-decorator app on RabbitMQ.
 */
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestVhost } from '../packages/rabbitmq/test/support/broker.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const appsDir = fileURLToPath(new URL('./decorator-modes/', import.meta.url));
const modes = ['standard', 'metadata', 'repo-build'] as const;

async function compile(mode: string): Promise<void> {
  await run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', `${appsDir}${mode}/tsconfig.json`], {
    cwd: root,
    timeout: 120_000,
  });
}

async function runCompiled(mode: string, file: string, env: NodeJS.ProcessEnv = {}): Promise<unknown> {
  const { stdout } = await run(process.execPath, [`${appsDir}dist/${mode}/${mode}/${file}.js`], {
    cwd: root,
    timeout: 60_000,
    env: { ...process.env, AMQP_URL: undefined, ...env },
  });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '');
}

const handledByBoth = {
  outcomes: ['AuditOrders:handled', 'ChargeCardConsumer:handled'],
  charged: ['o-1:25'],
  audited: ['charged o-1 (attempt 1)', 'placed o-1'],
};

describe('decorators in every TypeScript mode', () => {
  beforeAll(async () => {
    await rm(`${appsDir}dist`, { recursive: true, force: true });
    for (const mode of modes) await compile(mode);
  }, 180_000);

  it.each(modes)('%s: the compiled consumer and event handler handle their messages', async (mode) => {
    expect(await runCompiled(mode, 'app')).toEqual({ mode, transport: 'in-memory', ...handledByBoth });
  });

  it('standard: a dependency missing from `inject` fails at start-up naming class and position', async () => {
    expect(await runCompiled('standard', 'missing-inject')).toEqual({
      code: 'SLUICE_INVALID_OPTION',
      message:
        '@Consumer on ForgotInject: constructor parameter 0 has no token: standard decorators have no parameter decorators, so list the constructor\'s dependencies in order in the decorator\'s "inject" option (inject: [Token, ...])',
    });
  });

  it('metadata: an interface-typed parameter without a token fails at start-up saying it needs one', async () => {
    expect(await runCompiled('metadata', 'interface-parameter')).toEqual({
      code: 'SLUICE_INVALID_OPTION',
      message:
        '@Consumer on InterfaceWithoutToken: constructor parameter 1 is typed Object in the emitted metadata (an interface, a primitive or a union), which names no binding: give it a token with @inject(Token) or list the dependencies in the decorator\'s "inject" option',
    });
  });

  describe('on RabbitMQ', () => {
    let vhost: TestVhost;
    beforeAll(async () => {
      vhost = await TestVhost.create('sluice-decorator-modes');
    });
    afterAll(async () => {
      await vhost.delete();
    });

    it('standard: the compiled app handles its messages on the real broker', async () => {
      expect(await runCompiled('standard', 'app', { AMQP_URL: vhost.url })).toEqual({
        mode: 'standard',
        transport: 'rabbitmq',
        ...handledByBoth,
      });
    });
  });
});
