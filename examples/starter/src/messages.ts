/** The messages: explicit, versioned type names and a schema each (validated on send and receive). */
import { defineCommand, defineEvent, type PayloadOf } from '@sluice/core';
import { z } from 'zod';

/** Published by the API when someone signs up; every subscription gets a copy. */
export const UserSignedUp = defineEvent('starter.user-signed-up.v1', {
  schema: z.object({ userId: z.string().min(1), email: z.email() }),
});

/** Sent to the one queue that sends welcome emails. */
export const SendWelcomeEmail = defineCommand('starter.send-welcome-email.v1', {
  schema: z.object({ userId: z.string().min(1), email: z.email() }),
});

export type SignUp = PayloadOf<typeof UserSignedUp>;
