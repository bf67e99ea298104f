import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { ServiceBusAdministrationClient, ServiceBusClient } from '@azure/service-bus';
import { describe, expect, it } from 'vitest';
import { receiveUpTo } from './support/fixture.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

/** `npm run servicebus:standin` runs this entry point (built by the integration setup). */
describe('service bus stand-in: command line', () => {
  it('prints the connection string and the CA file, serves the SDK, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [cli], {
      env: { ...process.env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    child.stdout.setEncoding('utf8');
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: string) => {
        lines.push(...chunk.split('\n').filter((line) => line !== ''));
        if (lines.length >= 2) resolve();
      });
      child.once('exit', (code) => reject(new Error(`the stand-in exited early with ${code}`)));
    });
    try {
      await ready;
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(
        /^SERVICEBUS_CONNECTION_STRING=Endpoint=sb:\/\/127\.0\.0\.1:\d+;.*UseDevelopmentEmulator=true$/,
      );
      expect(lines[1]).toMatch(/^NODE_EXTRA_CA_CERTS=.*\.pem$/);
      const connectionString = lines[0]!.slice('SERVICEBUS_CONNECTION_STRING='.length);
      const caFile = lines[1]!.slice('NODE_EXTRA_CA_CERTS='.length);
      const admin = new ServiceBusAdministrationClient(connectionString, {
        tlsOptions: { ca: readFileSync(caFile, 'utf8') },
      });
      await admin.createQueue('cli-queue');
      const client = new ServiceBusClient(connectionString);
      try {
        await client.createSender('cli-queue').sendMessages({ body: 'from the command line' });
        const [message] = await receiveUpTo(
          client.createReceiver('cli-queue', { receiveMode: 'receiveAndDelete' }),
          1,
        );
        expect(message!.body).toBe('from the command line');
      } finally {
        await client.close();
      }
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      expect((await exited)[0]).toBe(0);
      expect(existsSync(caFile)).toBe(false);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('refuses a bad PORT at start-up, naming it', async () => {
    const child = spawn(process.execPath, [cli], {
      env: { ...process.env, PORT: 'eighty' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(1);
    expect(stderr).toContain("PORT must be a whole number from 0 to 65535, got 'eighty'");
  });
});
