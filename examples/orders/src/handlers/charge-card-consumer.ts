import { Consumer, type MessageContext } from '@sluice/core';
import { inject } from 'inversify';
import { ChargeCard, type ChargeCardCommand } from '../messages.js';
import { ServiceTokens, type ChargeLedger, type PaymentGateway } from '../services.js';

/**
 * Charges each order once: the host skips redelivered duplicates (idempotency by message id) and the
 * gateway call carries the order id as its idempotency key, so a retry after a timeout cannot charge
 * twice either. The charge is recorded in the ledger; with DATABASE_URL that is a row written in the
 * inbox's transaction, committed together with the message's "handled" record.
 */
@Consumer({
  message: ChargeCard,
  prefetch: 20,
  idempotency: true,
  retry: { attempts: 3, immediate: 2, redelivery: { initialMs: 500, factor: 2 } },
})
export class ChargeCardConsumer {
  constructor(
    @inject(ServiceTokens.PaymentGateway) private readonly gateway: PaymentGateway,
    @inject(ServiceTokens.ChargeLedger) private readonly ledger: ChargeLedger,
  ) {}

  async handle(command: ChargeCardCommand, ctx: MessageContext): Promise<void> {
    const result = await this.gateway.charge(command.orderId, command.amount, command.cardToken);
    await this.ledger.record(command.orderId, result.chargeId, command.amount);
    ctx.logger.info(
      { orderId: command.orderId, chargeId: result.chargeId, amount: command.amount },
      'card charged',
    );
  }
}
