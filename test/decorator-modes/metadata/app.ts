// experimentalDecorators + emitDecoratorMetadata with the reflect-metadata polyfill, as NestJS and
// inversify's own examples write them: a parameter typed by a class is injected by type; an
// interface still needs a token.
import 'reflect-metadata';
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

@Consumer({ queue: 'modes-metadata.payments', message: ChargeCard })
class ChargeCardConsumer {
  constructor(
    private readonly gateway: PaymentGateway,
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

await runApp('metadata', [ChargeCardConsumer, AuditOrders]);
