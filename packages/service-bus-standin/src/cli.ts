#!/usr/bin/env node
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServiceBusStandIn } from './stand-in.js';

/**
 * `npm run servicebus:standin`: runs a stand-in in the foreground on `PORT` (default: a free port)
 * and prints two lines, `SERVICEBUS_CONNECTION_STRING=<connection string>` and
 * `NODE_EXTRA_CA_CERTS=<file>` (the test CA, which a Node process given that variable trusts, so its
 * administration client reaches the HTTPS endpoint). SIGTERM or SIGINT closes it and exits 0.
 */
async function main(): Promise<void> {
  const portText = process.env.PORT;
  const port = portText === undefined || portText === '' ? 0 : Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    console.error(`service bus stand-in: PORT must be a whole number from 0 to 65535, got '${portText}'`);
    process.exit(1);
  }
  const standIn = await startServiceBusStandIn({ port });
  const caFile = join(tmpdir(), `service-bus-standin-${standIn.port}-ca.pem`);
  writeFileSync(caFile, standIn.ca);
  console.log(`SERVICEBUS_CONNECTION_STRING=${standIn.connectionString}`);
  console.log(`NODE_EXTRA_CA_CERTS=${caFile}`);
  const stop = () => {
    void standIn.close().then(() => {
      rmSync(caFile, { force: true });
      process.exit(0);
    });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  console.error(`service bus stand-in: ${(error as Error).message}`);
  process.exit(1);
});
