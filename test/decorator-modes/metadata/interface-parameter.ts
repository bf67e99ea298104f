// Injection by type cannot see through an interface: this parameter needs @inject(AUDIT_LOG).
import 'reflect-metadata';
import { Consumer } from '@sluice/core';
import { ChargeCard, PaymentGateway, printStartUpError, type AuditLog } from '../shared.js';

@Consumer({ queue: 'modes-metadata.refused', message: ChargeCard })
class InterfaceWithoutToken {
  constructor(
    private readonly gateway: PaymentGateway,
    private readonly audit: AuditLog,
  ) {}

  handle(): void {
    this.gateway.charge('never', 0);
    this.audit.record('never');
  }
}

await printStartUpError([InterfaceWithoutToken]);
