/**
 * Reads why a connection attempt failed: a refusal that retrying cannot fix (the login, the virtual
 * host, a TLS certificate) or a condition that may pass (nothing listening yet, a reset, a timeout),
 * and says so in one line that names the broker, the user and the vhost, never the password.
 */
import type { ConnectionSettings } from './resolve-options.js';

export interface ConnectFailure {
  /** True when trying again with the same settings cannot succeed. */
  readonly permanent: boolean;
  /** One line naming the cause, with every secret the transport knows scrubbed. */
  readonly reason: string;
}

/**
 * OpenSSL's certificate verification failures as Node reports them (`error.code`), and Node's own
 * host-name check: the broker's certificate is not one this client trusts, which retrying cannot
 * change. https://nodejs.org/api/tls.html#x509-certificate-error-codes
 */
const certificateCodes: ReadonlySet<string> = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_CRL',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CRL_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CRL_NOT_YET_VALID',
  'CRL_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * OpenSSL errors of the handshake or of the client's own key and certificate (`ERR_SSL_...` such as a
 * certificate the broker refused or a plain port answering TLS, `ERR_OSSL_...` such as a wrong key
 * passphrase): the same settings fail the same way every time.
 */
const tlsErrorCode = /^ERR_(SSL|OSSL|TLS)_/;

/** amqplib's text for a `connection.close` the broker sent during the handshake. */
const handshakeClose = /^Handshake terminated by server: (\d+) \(([A-Z-]+)\)(?: with message "(.*)")?/s;

/**
 * amqplib's text when the broker answers `connection.open` with `connection.close`: RabbitMQ does so
 * when the virtual host does not exist or the user has no permissions on it (amqplib drops the
 * broker's reason, so both are named).
 */
const openRefused = /^Expected ConnectionOpenOk; got <ConnectionClose/;

/** AMQP reply codes that refuse the login or the vhost for good (403 access refused, 530 not allowed). */
const refusingCodes: ReadonlySet<string> = new Set(['403', '530']);

/** Classifies a failed connection attempt and describes it in one line. */
export function describeConnectFailure(error: Error, settings: ConnectionSettings): ConnectFailure {
  const clean = settings.redactor.text(error.message).trim().split('\n')[0] ?? '';
  const code = (error as { code?: unknown }).code;
  const where = `RabbitMQ at ${settings.displayUrl}`;
  const user = JSON.stringify(settings.username);
  const vhost = JSON.stringify(settings.vhost);

  const closed = handshakeClose.exec(error.message);
  if (closed !== null) {
    const [, replyCode = '', replyText = '', brokerMessage] = closed;
    if (replyCode === '403') {
      return {
        permanent: true,
        reason: `${where} refused the login of user ${user}: wrong user name or password, or the user may not log in from here (403 ACCESS_REFUSED)`,
      };
    }
    const said = brokerMessage === undefined ? '' : `: ${settings.redactor.text(brokerMessage)}`;
    return {
      permanent: refusingCodes.has(replyCode),
      reason: `${where} closed the connection while opening it (${replyCode} ${replyText})${said}`,
    };
  }
  if (openRefused.test(error.message)) {
    return {
      permanent: true,
      reason: `${where} refused to open virtual host ${vhost} for user ${user}: the vhost does not exist or the user has no permissions on it (rabbitmqctl list_vhosts; rabbitmqctl list_permissions -p ${settings.vhost})`,
    };
  }
  if (typeof code === 'string' && (certificateCodes.has(code) || tlsErrorCode.test(code))) {
    const hint = code === 'ERR_SSL_WRONG_VERSION_NUMBER' ? ' (is the port a TLS port?)' : '';
    return { permanent: true, reason: `TLS with ${where} failed: ${clean} (${code})${hint}` };
  }
  if (/^SASL mechanism .* is not provided by the server/.test(error.message)) {
    return { permanent: true, reason: `${where} refused the login of user ${user}: ${clean}` };
  }
  return { permanent: false, reason: `cannot reach ${where}: ${clean}` };
}
