// Standard (TC39) decorators: the tsconfig `tsc --init` writes, no decorator flag. Dependencies are
// listed in the decorator's `inject` option, one token per constructor parameter.
import { Consumer, EventHandler, type MessageContext, type PayloadOf } from '@sluice/core';
import {
  AUDIT_LOG,
  auditPlacedOrder,
  chargeCard,
  ChargeCard,
  OrderPlaced,
  PaymentGateway,
  runApp,
  type AuditLog,
} from '../shared.js';

@Consumer({ queue: 'modes-standard.payments', message: ChargeCard, inject: [PaymentGateway, AUDIT_LOG] })
class ChargeCardConsumer {
  constructor(
    private readonly gateway: PaymentGateway,
    private readonly audit: AuditLog,
  ) {}

  handle(command: PayloadOf<typeof ChargeCard>, ctx: MessageContext): void {
    chargeCard(this.gateway, this.audit, command, ctx.attempt);
  }
}

@EventHandler(OrderPlaced, { subscription: 'audit', inject: [AUDIT_LOG] })
class AuditOrders {
  constructor(private readonly audit: AuditLog) {}

  handle(event: PayloadOf<typeof OrderPlaced>): void {
    auditPlacedOrder(this.audit, event);
  }
}

await runApp('standard', [ChargeCardConsumer, AuditOrders]);
