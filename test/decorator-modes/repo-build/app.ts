// The repository's own compiler settings (tsconfig.base.json: experimentalDecorators, no decorator
// metadata): every constructor parameter names its token with @inject.
import { Consumer, EventHandler, type MessageContext, type PayloadOf } from '@sluice/core';
import { inject } from 'inversify';
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

@Consumer({ queue: 'modes-repo-build.payments', message: ChargeCard })
class ChargeCardConsumer {
  constructor(
    @inject(PaymentGateway) private readonly gateway: PaymentGateway,
    @inject(AUDIT_LOG) private readonly audit: AuditLog,
  ) {}

  handle(command: PayloadOf<typeof ChargeCard>, ctx: MessageContext): void {
    chargeCard(this.gateway, this.audit, command, ctx.attempt);
  }
}

@EventHandler(OrderPlaced, { subscription: 'audit' })
class AuditOrders {
  constructor(@inject(AUDIT_LOG) private readonly audit: AuditLog) {}

  handle(event: PayloadOf<typeof OrderPlaced>): void {
    auditPlacedOrder(this.audit, event);
  }
}

await runApp('repo-build', [ChargeCardConsumer, AuditOrders]);
