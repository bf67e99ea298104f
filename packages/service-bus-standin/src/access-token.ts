/**
 * Microsoft Entra sign-in as far as the stand-in goes: one random access token, accepted for the
 * whole namespace (CBS put-token of type `jwt`, and `Authorization: Bearer` on the administration
 * API), and a `TokenCredential` that hands it out for the Service Bus scope only, as a credential of
 * `@azure/identity` would (so a test sees the SDK ask for the right scope).
 */
import { randomBytes } from 'node:crypto';
import { SasError, type SasGrant } from './sas.js';

/** The scope the SDK asks a credential for, for both AMQP and the administration API. */
export const serviceBusScope = 'https://servicebus.azure.net//.default';

const validityMs = 60 * 60 * 1000;

/** What `getToken` of a `TokenCredential` (`@azure/core-auth`) answers. */
export interface AccessToken {
  readonly token: string;
  readonly expiresOnTimestamp: number;
}

/** A `TokenCredential` (`@azure/core-auth`): the shape `ServiceBusClient` and the administration client take. */
export interface StandInTokenCredential {
  getToken(scopes: string | string[]): Promise<AccessToken>;
}

export class AccessTokens {
  private readonly token = `stand-in.${randomBytes(24).toString('base64url')}`;

  /** Hands out the token for {@link serviceBusScope}; rejects for any other scope, naming it. */
  readonly credential: StandInTokenCredential = {
    getToken: async (scopes) => {
      const asked = typeof scopes === 'string' ? [scopes] : scopes;
      if (!asked.includes(serviceBusScope)) {
        throw new Error(
          `the stand-in's credential issues tokens for ${serviceBusScope} only, not ${JSON.stringify(asked)}`,
        );
      }
      return { token: this.token, expiresOnTimestamp: Date.now() + validityMs };
    },
  };

  /** A grant for the whole namespace for the stand-in's token; a `SasError` for any other. */
  verify(token: string): SasGrant {
    if (token !== this.token) throw new SasError('the access token was not issued for this namespace');
    return { resource: '', expiresAt: Date.now() + validityMs };
  }
}
