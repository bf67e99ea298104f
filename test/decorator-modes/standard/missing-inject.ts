// A standard-decorator consumer whose constructor dependency is not listed in `inject`.
import { Consumer } from '@sluice/core';
import { ChargeCard, printStartUpError, type PaymentGateway } from '../shared.js';

@Consumer({ queue: 'modes-standard.refused', message: ChargeCard })
class ForgotInject {
  constructor(private readonly gateway: PaymentGateway) {}

  handle(): void {
    this.gateway.charge('never', 0);
  }
}

await printStartUpError([ForgotInject]);
