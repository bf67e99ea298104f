/**
 * HANDLED_RECORD: every finished handler call is in the file by the time its message is settled (a
 * process killed right after the ack loses no line), one file per process when given a folder.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemoryTransport } from '@sluice/core';
import { RecordingLogger } from '@sluice/testing';
import { afterEach, expect, it } from 'vitest';
import { openHandledRecord } from '../src/handled-record.js';
import { OrderPlaced } from '../src/messages.js';
import { createOrdersApp, ordersHostOptions, type OrdersApp } from '../src/orders-app.js';

let app: OrdersApp | undefined;
let dir: string | undefined;
afterEach(async () => {
  await app?.host.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

it('has the line of each handler call in its file when the message is settled, in a file of this process when given a folder', async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-handled-'));
  const record = openHandledRecord(dir);
  expect(record.path).toBe(join(dir, `handled-${process.pid}.log`));
  app = createOrdersApp({
    transport: new InMemoryTransport(),
    logger: new RecordingLogger(),
    metricsPort: false,
    handleSignals: false,
    gatewayFailEvery: 0,
    middleware: [record.middleware],
    shutdownHooks: [() => record.close()],
  });
  const atSettlement: { consumer: string; lines: string[] }[] = [];
  app.host.on('settled', (event) => {
    if (event.outcome === 'handled') {
      atSettlement.push({ consumer: event.consumer, lines: readFileSync(record.path, 'utf8').split('\n') });
    }
  });
  await app.host.start();
  await app.host.bus.publish(
    OrderPlaced,
    {
      orderId: 'order-1',
      customerEmail: 'ada@example.com',
      items: [{ sku: 'book', quantity: 1, unitPrice: 50 }],
      totalAmount: 50,
      cardToken: 'tok_visa',
    },
    { messageId: 'order-1' },
  );
  const deadline = Date.now() + 10_000;
  while (atSettlement.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(atSettlement.map((s) => s.consumer).sort()).toEqual([
    'ChargeCardConsumer',
    'PrepareShipment',
    'RequestPayment',
    'ReserveInventory',
    'SendConfirmationEmail',
  ]);
  for (const { consumer, lines } of atSettlement) expect(lines).toContain(`${consumer} order-1`);
  await app.host.stop();
  expect(readdirSync(dir)).toEqual([`handled-${process.pid}.log`]);
});

it('consumes nothing as the API tier (consume: false)', () => {
  const { options } = ordersHostOptions({
    transport: new InMemoryTransport(),
    logger: new RecordingLogger(),
    metricsPort: false,
    consume: false,
  });
  expect(options.consumers).toEqual([]);
  expect(options.backgroundQueues).toHaveLength(1);
});
