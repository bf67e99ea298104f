/** The messages: explicit, versioned type names and a schema each (validated on send and receive). */
import { defineCommand, defineEvent, type PayloadOf } from '@sluice/core';
import { z } from 'zod';

const signUp = z.object({ userId: z.string().min(1), email: z.email() });

/**
 * Sent by the API for each sign-up, to the one queue that registers them. The definition names that
 * queue, so the API declares it too: a sign-up sent while no worker runs waits there for one, and the
 * API and the worker can start in any order.
 */
export const SignUpUser = defineCommand('starter.sign-up-user.v1', {
  schema: signUp,
  queue: 'starter.sign-ups',
});

/** Published once a sign-up is registered; every subscription gets a copy. */
export const UserSignedUp = defineEvent('starter.user-signed-up.v1', { schema: signUp });

export type SignUp = PayloadOf<typeof SignUpUser>;
