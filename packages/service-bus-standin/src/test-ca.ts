import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A throwaway certificate authority and a server certificate it signed, all PEM. */
export interface TestCertificates {
  /** The CA certificate a client trusts (`tlsOptions.ca`). */
  readonly ca: string;
  /** The server certificate, for `localhost`, `127.0.0.1` and `::1`. */
  readonly cert: string;
  readonly key: string;
}

let generated: Promise<TestCertificates> | undefined;

/**
 * Generates (once per process, with the `openssl` binary) a CA valid for a day and a server
 * certificate it signed for the loopback names. Rejects naming openssl's complaint when it fails.
 */
export function testCertificates(): Promise<TestCertificates> {
  generated ??= generate().catch((error: unknown) => {
    generated = undefined;
    throw new Error(`could not generate the stand-in's test CA with openssl: ${(error as Error).message}`);
  });
  return generated;
}

async function generate(): Promise<TestCertificates> {
  const dir = await mkdtemp(join(tmpdir(), 'service-bus-standin-'));
  try {
    const file = (name: string) => join(dir, name);
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=Sluice Service Bus stand-in test CA',
      '-keyout',
      file('ca.key'),
      '-out',
      file('ca.pem'),
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    await run('openssl', [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-keyout',
      file('server.key'),
      '-out',
      file('server.csr'),
    ]);
    await writeFile(
      file('server.ext'),
      'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n',
    );
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      file('server.csr'),
      '-CA',
      file('ca.pem'),
      '-CAkey',
      file('ca.key'),
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      file('server.ext'),
      '-out',
      file('server.pem'),
    ]);
    const [ca, cert, key] = await Promise.all(
      ['ca.pem', 'server.pem', 'server.key'].map((name) => readFile(file(name), 'utf8')),
    );
    return { ca: ca!, cert: cert!, key: key! };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
