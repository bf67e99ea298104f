/**
 * The handlers: return to acknowledge, throw to retry (then dead-letter). Standard decorators (no
 * compiler flag); constructor dependencies are listed in `inject`, one token per parameter.
 */
import { Bus, Consumer, EventHandler, type MessageContext, type PayloadOf } from '@sluice/core';
import { SendWelcomeEmail, UserSignedUp } from './messages.js';

/** Stands in for an email provider. */
export class Mailer {
  async send(to: string, subject: string): Promise<void> {
    console.log(`email to ${to}: ${subject}`);
  }
}

/** An event handler: its subscription gets its own queue and a copy of every UserSignedUp. */
@EventHandler(UserSignedUp, { subscription: 'welcome', inject: [Bus] })
export class RequestWelcomeEmail {
  constructor(private readonly bus: Bus) {}

  async handle(user: PayloadOf<typeof UserSignedUp>): Promise<void> {
    await this.bus.send(SendWelcomeEmail, { userId: user.userId, email: user.email });
  }
}

/** A command consumer: competing consumers share its queue, each command handled once. */
@Consumer({
  queue: 'starter.welcome-emails',
  message: SendWelcomeEmail,
  retry: { attempts: 5 },
  inject: [Mailer],
})
export class SendWelcomeEmailConsumer {
  constructor(private readonly mailer: Mailer) {}

  async handle(command: PayloadOf<typeof SendWelcomeEmail>, ctx: MessageContext): Promise<void> {
    await this.mailer.send(command.email, 'Welcome!');
    ctx.logger.info({ userId: command.userId }, 'welcome email sent');
  }
}
