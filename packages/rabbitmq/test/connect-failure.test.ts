/**
 * Which connection failures are refusals that retrying cannot fix, and the one line that says so, for
 * the error shapes amqplib and Node give (the real broker's own are in connect-failures.int.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { describeConnectFailure } from '../src/connect-failure.js';
import { resolveOptions } from '../src/resolve-options.js';

const secret = 'Pa55-s3cret-word';
const { connection } = resolveOptions({ url: `amqp://app:${secret}@broker.example:5672/shop` });

function failure(message: string, code?: string): Error {
  return Object.assign(new Error(message), code === undefined ? {} : { code });
}

describe('describeConnectFailure', () => {
  it.each([
    [
      'a refused login',
      failure(
        'Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile."',
      ),
      'RabbitMQ at amqp://app:***@broker.example:5672/shop refused the login of user "app": wrong user name or password, or the user may not log in from here (403 ACCESS_REFUSED)',
    ],
    [
      'a refused vhost',
      failure('Expected ConnectionOpenOk; got <ConnectionClose channel:0>'),
      'RabbitMQ at amqp://app:***@broker.example:5672/shop refused to open virtual host "shop" for user "app": the vhost does not exist or the user has no permissions on it (rabbitmqctl list_vhosts; rabbitmqctl list_permissions -p shop)',
    ],
    [
      'a handshake close that is not allowed',
      failure(`Handshake terminated by server: 530 (NOT-ALLOWED) with message "NOT_ALLOWED - ${secret}"`),
      'RabbitMQ at amqp://app:***@broker.example:5672/shop closed the connection while opening it (530 NOT-ALLOWED): NOT_ALLOWED - ***',
    ],
    [
      'an untrusted certificate',
      failure('self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT'),
      'TLS with RabbitMQ at amqp://app:***@broker.example:5672/shop failed: self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)',
    ],
    [
      'TLS to a plain port',
      failure(
        '80FC03C0E97F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:350:\n',
        'ERR_SSL_WRONG_VERSION_NUMBER',
      ),
      'TLS with RabbitMQ at amqp://app:***@broker.example:5672/shop failed: 80FC03C0E97F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:350: (ERR_SSL_WRONG_VERSION_NUMBER) (is the port a TLS port?)',
    ],
  ])('%s is permanent', (_case, error, reason) => {
    expect(describeConnectFailure(error, connection)).toEqual({ permanent: true, reason });
  });

  it.each([
    ['nothing listening', failure('connect ECONNREFUSED 10.0.0.1:5672', 'ECONNREFUSED'), 'ECONNREFUSED'],
    ['a reset', failure('read ECONNRESET', 'ECONNRESET'), 'read ECONNRESET'],
    ["amqplib's socket timeout", failure('connect ETIMEDOUT'), 'connect ETIMEDOUT'],
    ['a name not resolving yet', failure('getaddrinfo ENOTFOUND broker.example', 'ENOTFOUND'), 'ENOTFOUND'],
    [
      'a broker shutting down',
      failure('Handshake terminated by server: 320 (CONNECTION-FORCED)'),
      'closed the connection while opening it (320 CONNECTION-FORCED)',
    ],
    [
      'a socket closed mid-handshake',
      failure('Socket closed abruptly during opening handshake'),
      'Socket closed abruptly',
    ],
  ])('%s is retried', (_case, error, shown) => {
    const described = describeConnectFailure(error, connection);
    expect(described.permanent).toBe(false);
    expect(described.reason).toContain('RabbitMQ at amqp://app:***@broker.example:5672/shop');
    expect(described.reason).toContain(shown);
  });

  it('never shows the password, wherever the error put it', () => {
    const described = describeConnectFailure(
      failure(`connect ECONNREFUSED amqp://app:${secret}@broker.example:5672 (${secret})`, 'ECONNREFUSED'),
      connection,
    );
    expect(described.reason).not.toContain(secret);
  });
});
