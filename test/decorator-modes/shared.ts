/**
 * What the three decorator-mode apps share, written without decorators so that each app's own
 * compiler settings decide only how its decorated classes compile.
 */
import {
  ConsumerHost,
  defineCommand,
  defineEvent,
  InMemoryTransport,
  type HandlerClass,
  type Transport,
} from '@sluice/core';
import { Container } from 'inversify';

export const ChargeCard = defineCommand<{ orderId: string; amount: number }>('modes.charge-card.v1');
export const OrderPlaced = defineEvent<{ orderId: string }>('modes.order-placed.v1');

export class PaymentGateway {
  readonly charged: string[] = [];
  charge(orderId: string, amount: number): void {
    this.charged.push(`${orderId}:${amount}`);
  }
}

/** An interface: no class to inject by, so it always needs a token. */
export interface AuditLog {
  record(line: string): void;
}
export const AUDIT_LOG = Symbol.for('modes.AuditLog');

/** The command handler's work, the same in every mode. */
export function chargeCard(
  gateway: PaymentGateway,
  audit: AuditLog,
  command: { orderId: string; amount: number },
  attempt: number,
): void {
  gateway.charge(command.orderId, command.amount);
  audit.record(`charged ${command.orderId} (attempt ${attempt})`);
}

/** The event handler's work, the same in every mode. */
export function auditPlacedOrder(audit: AuditLog, event: { orderId: string }): void {
  audit.record(`placed ${event.orderId}`);
}

async function transportFromEnv(): Promise<Transport> {
  const url = process.env.AMQP_URL;
  if (url === undefined) return new InMemoryTransport();
  const { RabbitMqTransport } = await import('@sluice/rabbitmq');
  return new RabbitMqTransport({ url });
}

/**
 * Starts a host with `consumers`, sends one command and publishes one event, waits until both were
 * handled, stops, and prints one JSON line with what the handlers did.
 */
export async function runApp(mode: string, consumers: HandlerClass<never>[]): Promise<void> {
  const gateway = new PaymentGateway();
  const audited: string[] = [];
  const container = new Container();
  container.bind(PaymentGateway).toConstantValue(gateway);
  container.bind<AuditLog>(AUDIT_LOG).toConstantValue({ record: (line) => audited.push(line) });
  const transport = await transportFromEnv();
  const host = new ConsumerHost({
    serviceName: `modes-${mode}`,
    transport,
    consumers,
    container,
    handleSignals: false,
  });
  const outcomes: string[] = [];
  const bothSettled = new Promise<void>((resolve) => {
    host.on('settled', (event) => {
      outcomes.push(`${event.consumer}:${event.outcome}`);
      if (outcomes.length === 2) resolve();
    });
  });
  await host.start();
  await host.bus.send(ChargeCard, { orderId: 'o-1', amount: 25 });
  await host.bus.publish(OrderPlaced, { orderId: 'o-1' });
  await bothSettled;
  await host.stop();
  console.log(
    JSON.stringify({
      mode,
      transport: transport.name,
      outcomes: outcomes.sort(),
      charged: gateway.charged,
      audited,
    }),
  );
}

/** Starts a host that must refuse `consumers` at start-up, and prints the error's code and message. */
export async function printStartUpError(consumers: HandlerClass<never>[]): Promise<void> {
  const host = new ConsumerHost({
    serviceName: 'modes-refused',
    transport: new InMemoryTransport(),
    consumers,
    handleSignals: false,
  });
  await host.start().then(
    () => console.log(JSON.stringify({ started: true })),
    (error: { code?: string; message: string }) =>
      console.log(JSON.stringify({ code: error.code, message: error.message })),
  );
}
