/** The demo's stand-ins for external systems, with the failure modes the demo wants to show. */
export const ServiceTokens = {
  PaymentGateway: Symbol.for('orders.PaymentGateway'),
  Inventory: Symbol.for('orders.Inventory'),
  Mailer: Symbol.for('orders.Mailer'),
  Logger: Symbol.for('orders.Logger'),
  ChargeLedger: Symbol.for('orders.ChargeLedger'),
} as const;

export class TransientGatewayError extends Error {
  override name = 'TransientGatewayError';
}

export interface PaymentGateway {
  /** Charges at most once per `idempotencyKey`; throws TransientGatewayError on a (simulated) outage. */
  charge(
    idempotencyKey: string,
    amount: number,
    cardToken: string,
  ): Promise<{ chargeId: string; duplicate: boolean }>;
  readonly charges: ReadonlyMap<string, number>;
}

/**
 * A gateway that times out on every `failEvery`-th call (never when 0), and always for the card token
 * `tok_gateway_down`, so the demo shows in-process retries, redeliveries and a dead-letter entry.
 */
export class FlakyPaymentGateway implements PaymentGateway {
  readonly charges = new Map<string, number>();
  private calls = 0;

  constructor(private readonly failEvery = 3) {}

  async charge(idempotencyKey: string, amount: number, cardToken: string) {
    this.calls++;
    if (cardToken === 'tok_gateway_down' || (this.failEvery > 0 && this.calls % this.failEvery === 0)) {
      throw new TransientGatewayError(`payment gateway timed out (call ${this.calls})`);
    }
    const duplicate = this.charges.has(idempotencyKey);
    if (!duplicate) this.charges.set(idempotencyKey, amount);
    return { chargeId: `ch_${idempotencyKey}`, duplicate };
  }
}

export class Inventory {
  readonly reserved = new Map<string, number>();

  reserve(sku: string, quantity: number): void {
    this.reserved.set(sku, (this.reserved.get(sku) ?? 0) + quantity);
  }
}

export class Mailer {
  readonly sent: string[] = [];

  /** Records the e-mail (a real mailer would send it). */
  send(to: string, subject: string): void {
    this.sent.push(`${to}: ${subject}`);
  }
}

/** Where charges are recorded: in memory by default, in PostgreSQL (through the inbox) with DATABASE_URL. */
export interface ChargeLedger {
  /** Records the charge of an order; resolves once it is stored. */
  record(orderId: string, chargeId: string, amount: number): Promise<void>;
}

export class InMemoryChargeLedger implements ChargeLedger {
  readonly charges = new Map<string, { chargeId: string; amount: number }>();

  record(orderId: string, chargeId: string, amount: number): Promise<void> {
    this.charges.set(orderId, { chargeId, amount });
    return Promise.resolve();
  }
}
