/** The demo's HTTP API as a client meets it, in process on the in-memory transport. */
import type { AddressInfo } from 'node:net';
import { InMemoryTransport } from '@sluice/core';
import { RecordingLogger } from '@sluice/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { createOrdersApp, type OrdersApp } from '../src/orders-app.js';

const validOrder = {
  customerEmail: 'ada@example.com',
  items: [
    { sku: 'book', quantity: 2, unitPrice: 25 },
    { sku: 'pen', quantity: 1, unitPrice: 3.5 },
  ],
  totalAmount: 53.5,
  cardToken: 'tok_visa',
};

let app: OrdersApp | undefined;
let logger: RecordingLogger;

async function startApi({ startHost = true } = {}): Promise<string> {
  logger = new RecordingLogger();
  app = createOrdersApp({
    transport: new InMemoryTransport(),
    logger,
    metricsPort: false,
    handleSignals: false,
  });
  if (startHost) await app.host.start();
  await new Promise<void>((resolve) => app?.api.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(app.api.address() as AddressInfo).port}`;
}

afterEach(async () => {
  app?.api.close();
  await app?.host.stop();
  app = undefined;
});

const postJson = (url: string, body: unknown) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('orders HTTP API', () => {
  it('accepts a valid order with 202, JSON with a charset included', async () => {
    const api = await startApi();
    const response = await fetch(`${api}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify(validOrder),
    });
    expect(response.status).toBe(202);
    expect(await response.json()).toMatchObject({ orderId: expect.any(String) });
  });

  it('refuses a body that is not JSON with 415: text/plain, a form, none', async () => {
    const api = await startApi();
    const bodies: [Record<string, string>, string][] = [
      [{ 'content-type': 'text/plain' }, JSON.stringify(validOrder)],
      [{ 'content-type': 'application/x-www-form-urlencoded' }, 'customerEmail=ada%40example.com'],
      [{}, JSON.stringify(validOrder)],
    ];
    for (const [headers, body] of bodies) {
      const response = await fetch(`${api}/orders`, { method: 'POST', headers, body });
      expect(response.status, JSON.stringify(headers)).toBe(415);
      expect(await response.json()).toEqual({ error: 'content-type must be application/json' });
    }
  });

  it('answers 405 with Allow for another method on a known path, 404 for an unknown path', async () => {
    const api = await startApi();
    for (const path of ['/orders', '/uploads']) {
      const response = await fetch(`${api}${path}`);
      expect(response.status).toBe(405);
      expect(response.headers.get('allow')).toBe('POST');
    }
    expect((await fetch(`${api}/nothing`)).status).toBe(404);
  });

  it('refuses a 10 MB body with 413', async () => {
    const api = await startApi();
    const huge = JSON.stringify({ ...validOrder, padding: 'x'.repeat(10 * 1024 * 1024) });
    const response = await fetch(`${api}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: huge,
    });
    expect(response.status).toBe(413);
  });

  it('refuses a total that is not the sum of the items (the VIP filter routes on it)', async () => {
    const api = await startApi();
    const response = await postJson(`${api}/orders`, { ...validOrder, totalAmount: 5000 });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: 'invalid order',
      issues: [
        { path: 'totalAmount', message: 'must equal the sum of quantity x unitPrice over the items (53.5)' },
      ],
    });
  });

  it('names an invalid field by path and message only, without schema internals', async () => {
    const api = await startApi();
    const response = await postJson(`${api}/orders`, { ...validOrder, customerEmail: 'not-an-email' });
    expect(response.status).toBe(400);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({
      error: 'invalid order',
      issues: [{ path: 'customerEmail', message: 'Invalid email address' }],
    });
    expect(text).not.toContain('pattern');
  });

  it('answers 503 with Retry-After while the host is not running', async () => {
    const api = await startApi({ startHost: false });
    const response = await postJson(`${api}/orders`, validOrder);
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
  });

  it('logs an upload cut short by the drain deadline as abandoned, not as processed', async () => {
    const api = await startApi();
    expect((await postJson(`${api}/uploads`, { name: 'slow', processingMs: 10_000 })).status).toBe(202);
    await app?.uploads.drain(50);
    expect(logger.text).toContain('upload abandoned: the service stopped before it finished');
    expect(logger.text).not.toContain('upload processed');
  });
});
