/**
 * The handlers: return to acknowledge, throw to retry (then dead-letter). Standard decorators (no
 * compiler flag); constructor dependencies are listed in `inject`, one token per parameter.
 */
import { Bus, Consumer, EventHandler, type MessageContext } from '@sluice/core';
import { SignUpUser, UserSignedUp, type SignUp } from './messages.js';

/** Stands in for an email provider. */
export class Mailer {
  async send(to: string, subject: string): Promise<void> {
    console.log(`email to ${to}: ${subject}`);
  }
}

/**
 * A command consumer: competing consumers share its queue (`starter.sign-ups`, named by the
 * command's definition), each command handled once.
 */
@Consumer({ message: SignUpUser, retry: { attempts: 5 }, inject: [Bus] })
export class SignUpUserConsumer {
  constructor(private readonly bus: Bus) {}

  async handle(user: SignUp, ctx: MessageContext): Promise<void> {
    // Store the user here; then tell whoever is interested.
    await this.bus.publish(UserSignedUp, user);
    ctx.logger.info({ userId: user.userId }, 'user signed up');
  }
}

/** An event handler: its subscription gets its own queue and a copy of every UserSignedUp. */
@EventHandler(UserSignedUp, { subscription: 'welcome', inject: [Mailer] })
export class SendWelcomeEmail {
  constructor(private readonly mailer: Mailer) {}

  async handle(user: SignUp, ctx: MessageContext): Promise<void> {
    await this.mailer.send(user.email, 'Welcome!');
    ctx.logger.info({ userId: user.userId }, 'welcome email sent');
  }
}
