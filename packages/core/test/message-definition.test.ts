import type { StandardSchemaV1 } from '@standard-schema/spec';
import { type } from 'arktype';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  acceptedTypes,
  defineCommand,
  defineEvent,
  ErrorCodes,
  readPayload,
  upcast,
  validatePayload,
} from '@sluice/core';

describe('message definitions', () => {
  it('requires explicit, versioned type names', () => {
    for (const bad of [
      'OrderPlaced',
      'orders.order-placed',
      'orders.OrderPlaced.v1',
      'orders.order-placed.v0',
      'v1',
    ]) {
      expect(() => defineEvent(bad), bad).toThrow(
        expect.objectContaining({ code: ErrorCodes.INVALID_MESSAGE_TYPE }),
      );
    }
    expect(defineEvent('orders.order-placed.v1').type).toBe('orders.order-placed.v1');
    expect(defineCommand('payments.charge-card.v12').kind).toBe('command');
  });

  const schemas: [string, StandardSchemaV1<unknown, { id: string; amount: number }>][] = [
    ['zod', z.object({ id: z.string(), amount: z.number().positive() })],
    ['valibot', v.object({ id: v.string(), amount: v.pipe(v.number(), v.minValue(0.01)) })],
    ['arktype', type({ id: 'string', amount: 'number > 0' })],
  ];
  it.each(schemas)('validates through Standard Schema (%s)', async (_name, schema) => {
    const Paid = defineEvent('billing.paid.v1', { schema });
    await expect(validatePayload(Paid, { id: 'a', amount: 3 })).resolves.toEqual({ id: 'a', amount: 3 });
    await expect(validatePayload(Paid, { id: 'a', amount: -1 })).rejects.toMatchObject({
      code: ErrorCodes.VALIDATION_FAILED,
      message: expect.stringContaining('amount'),
    });
  });

  it('upcasts through a chain of older versions and validates the result', async () => {
    const V1 = defineEvent('orders.order-placed.v1', { schema: z.object({ total: z.number() }) });
    const V2 = defineEvent('orders.order-placed.v2', {
      schema: z.object({ total: z.number(), currency: z.string() }),
      upcasts: [upcast(V1, (old) => ({ total: old.total, currency: 'EUR' }))],
    });
    const V3 = defineEvent('orders.order-placed.v3', {
      schema: z.object({ amount: z.object({ value: z.number(), currency: z.string() }) }),
      upcasts: [upcast(V2, (old) => ({ amount: { value: old.total, currency: old.currency } }))],
    });
    expect(acceptedTypes(V3)).toEqual([
      'orders.order-placed.v3',
      'orders.order-placed.v2',
      'orders.order-placed.v1',
    ]);
    await expect(readPayload(V3, 'orders.order-placed.v1', { total: 12 })).resolves.toEqual({
      amount: { value: 12, currency: 'EUR' },
    });
    await expect(readPayload(V3, 'orders.order-placed.v1', { total: 'x' })).rejects.toMatchObject({
      code: ErrorCodes.VALIDATION_FAILED,
    });
    await expect(readPayload(V3, 'orders.other.v1', {})).rejects.toMatchObject({
      code: ErrorCodes.UNKNOWN_MESSAGE_TYPE,
    });
  });
});
