import { Container } from 'inversify';
import { afterEach, describe, expect, it } from 'vitest';
import { Consumer, defineCommand, UnrecoverableError } from '@sluice/core';
import { RecordingLogger, type TestHarness } from '@sluice/testing';
import { startHost } from './support.js';

const Work = defineCommand<{ mode: 'transient' | 'bug' | 'rejected' }>('logs.work.v1');

class GatewayTimeout extends Error {
  override name = 'GatewayTimeout';
}

@Consumer({ queue: 'log-work', message: Work, retry: { attempts: 2, immediate: 1 } })
class Worker {
  handle({ mode }: { mode: string }) {
    if (mode === 'rejected') throw new UnrecoverableError('card blocked');
    if (mode === 'bug') throw new TypeError('cannot read properties of undefined');
    throw new GatewayTimeout('gateway timed out');
  }
}

let harness: TestHarness | undefined;
afterEach(async () => {
  await harness?.stop();
  harness = undefined;
});

const linesAbout = (logger: RecordingLogger, messageId: string) =>
  logger.lines.filter((line) => line.includes(`"messageId":"${messageId}"`));

describe('log lines written for a message', () => {
  it('carry the correlation id; a retry is one line without a stack, a dead-letter of a bug has its stack', async () => {
    const logger = new RecordingLogger();
    ({ harness } = await startHost([Worker], { logger }));
    await harness.bus.send(Work, { mode: 'bug' }, { messageId: 'bug-1', correlationId: 'order-42' });
    await harness.waitForDeadLettered('bug-1');

    const lines = linesAbout(logger, 'bug-1');
    const retried = lines.find((l) => l.startsWith('warn handler failed; redelivery'));
    const dead = lines.find((l) => l.startsWith('error message dead-lettered'));
    expect(retried).toContain('"correlationId":"order-42"');
    expect(retried).toContain('"error":"TypeError: cannot read properties of undefined"');
    expect(retried).not.toContain('at ');
    expect(dead).toContain('"correlationId":"order-42"');
    expect(dead).toMatch(/"err":"cannot read properties of undefined TypeError: .*\n?.*at /s);
  });

  it('dead-letter a business rejection without a stack', async () => {
    const logger = new RecordingLogger();
    ({ harness } = await startHost([Worker], { logger }));
    await harness.bus.send(Work, { mode: 'rejected' }, { messageId: 'rejected-1', correlationId: 'order-7' });
    await harness.waitForDeadLettered('rejected-1');
    const dead = linesAbout(logger, 'rejected-1').find((l) => l.startsWith('error message dead-lettered'));
    expect(dead).toContain('"error":"UnrecoverableError SLUICE_UNRECOVERABLE: card blocked"');
    expect(dead).toContain('"correlationId":"order-7"');
    expect(dead).not.toContain('"err"');
  });
});

describe('resolving the handler at run time', () => {
  class Gateway {}

  @Consumer({ queue: 'resolve-work', message: Work, retry: { attempts: 5 }, inject: [Gateway] })
  class NeedsGateway {
    constructor(readonly gateway: Gateway) {}
    handle() {}
  }

  it('dead-letters at once when the container cannot resolve the handler any more', async () => {
    const container = new Container();
    container.bind(Gateway).toSelf();
    ({ harness } = await startHost([NeedsGateway], { container }));
    container.unbind(Gateway);
    await harness.bus.send(Work, { mode: 'transient' }, { messageId: 'unresolvable' });
    const dead = await harness.waitForDeadLettered('unresolvable');
    expect(dead.attempt).toBe(1);
    expect(dead.fault?.reason).toBe('unrecoverable');
    expect(dead.fault?.errorMessage).toMatch(/^NeedsGateway could not be resolved from the container: /);
  });
});
