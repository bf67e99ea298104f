/**
 * Property-based test of URL handling: whatever the password, user name or vhost hold (`/`, `?`, `#`,
 * `@`, `:`, `%`, a malformed escape, spaces, any Unicode), written raw or percent-encoded into the
 * URL, the transport and the dead-letter tooling either accept it or throw `SLUICE_INVALID_OPTION`
 * naming `url`; no message, stack, shown URL or scrubbed text ever contains the password.
 */
import { ErrorCodes } from '@sluice/core';
import { DeadLetters, RabbitMqTransport, redactUrl } from '@sluice/rabbitmq';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveOptions } from '../src/resolve-options.js';

const runs = Number(process.env.FUZZ_RUNS ?? 2_000);

/** Passwords that cannot turn up in a message by chance, holding every character that matters. */
const password = fc
  .tuple(
    fc.string({ unit: 'grapheme', maxLength: 12 }),
    fc.array(fc.constantFrom('/', '?', '#', '@', ':', '%', '%zz', '%2F', ' ', '+', '[', ']', '\\'), {
      maxLength: 4,
    }),
    fc.string({ maxLength: 6 }),
  )
  .map(([a, specials, b]) => `Pw9q${a}${specials.join('')}${b}Zx`);
const vhost = fc.oneof(
  fc.constant(''),
  fc.string({ maxLength: 12 }),
  fc.constantFrom('%', '%zz', 'prod/orders', 'a%2Fb', '@vh', '?x=1'),
);
const user = fc.oneof(
  fc.constant('app'),
  fc.constantFrom('', 'a:b', 'u/v', 'u@v', '%zz'),
  fc.string({ maxLength: 6 }),
);

function url(p: string, u: string, v: string, raw: boolean): string {
  const e = raw ? (s: string) => s : encodeURIComponent;
  return `amqp://${e(u)}:${e(p)}@127.0.0.1:5672/${e(v)}`;
}

function secretsIn(p: string): string[] {
  return [p, encodeURIComponent(p)];
}

function expectNoSecret(text: string, p: string): void {
  for (const secret of secretsIn(p)) expect(text).not.toContain(secret);
}

describe('URLs with any password (fuzz)', () => {
  it(`never shows the password, raw or encoded, in ${runs} URLs`, { timeout: 300_000 }, () => {
    fc.assert(
      fc.property(password, user, vhost, fc.boolean(), (p, u, v, raw) => {
        const given = url(p, u, v, raw);
        expectNoSecret(redactUrl(given), p);
        // In free text a URL ends at a space; the transport's redactor also knows its own password.
        if (!/\s/.test(given)) expectNoSecret(redactUrl(`connecting to ${given} failed`), p);
        for (const make of [
          () =>
            new RabbitMqTransport({
              url: given,
              management: { url: `http://${encodeURIComponent(u)}:${encodeURIComponent(p)}@127.0.0.1:15672` },
            }),
          () => new DeadLetters({ url: given }),
        ]) {
          try {
            make();
          } catch (error) {
            expect(error).toMatchObject({ code: ErrorCodes.INVALID_OPTION, name: 'SluiceError' });
            expect((error as Error).message).toContain('option "url"');
            expectNoSecret(`${(error as Error).message}\n${(error as Error).stack}`, p);
            continue;
          }
        }
        let resolved: ReturnType<typeof resolveOptions> | undefined;
        try {
          resolved = resolveOptions({ url: given }, {});
        } catch {
          return;
        }
        const { connection } = resolved;
        expectNoSecret(connection.displayUrl, p);
        expectNoSecret(
          connection.redactor.text(`login as ${connection.username} with ${connection.password} refused`),
          p,
        );
        if (!raw) {
          expect(connection.password).toBe(p);
          // "." and ".." are path segments a URL normalises away: such a vhost is written %2E.
          if (v !== '.' && v !== '..') expect(connection.vhost).toBe(v === '' ? '/' : v);
        }
      }),
      { numRuns: runs },
    );
  });

  it.each([
    ['a "/" in the password', 'amqp://app:s3cr/et-Pw9q@127.0.0.1:5672/vh', 's3cr/et-Pw9q'],
    ['a malformed escape in the password', 'amqp://app:Pw9q%zz@127.0.0.1:5672', 'Pw9q%zz'],
    ['a "%" in the vhost', 'amqp://app:Pw9q-secret@127.0.0.1:5672/a%b', 'Pw9q-secret'],
    ['a password that reads as a port and a path', 'amqp://app:12/Pw9q@127.0.0.1', '12/Pw9q'],
  ])('rejects %s naming the option, without the secret', (_what, given, secret) => {
    let thrown: unknown;
    try {
      new RabbitMqTransport({ url: given });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ code: ErrorCodes.INVALID_OPTION });
    expect((thrown as Error).message).toContain('option "url"');
    expect((thrown as Error).message).not.toContain(secret);
    expect(redactUrl(given)).not.toContain(secret);
  });

  it('reads a raw space and "@" in the password as the password, and hides it', () => {
    const { connection } = resolveOptions({ url: 'amqp://app:Pw 9q@x@127.0.0.1' }, {});
    expect(connection.password).toBe('Pw 9q@x');
    expect(connection.connect.hostname).toBe('127.0.0.1');
    expect(connection.displayUrl).not.toContain('9q');
  });
});
