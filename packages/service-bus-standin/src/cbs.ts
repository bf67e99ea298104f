import type { Message } from 'rhea';
import type { AccessTokens } from './access-token.js';
import type { Faults } from './faults.js';
import { type SasGrant, type SasPolicy, SasError, verifySasToken } from './sas.js';

/** The reply to a request on a request/response link (`$cbs` or `<entity>/$management`). */
export interface Reply {
  readonly application_properties: Record<string, unknown>;
  readonly body?: unknown;
}

/**
 * Answers a CBS `put-token` request: a valid SAS token (signed with one of `policies`' keys and not
 * expired), or a `jwt` token that is the stand-in's access token, is added to `grants` and answered
 * 202; anything else 401 (or 400 for a malformed request), with a description that never repeats
 * the token.
 */
export function putToken(
  request: Message,
  policies: readonly SasPolicy[],
  grants: SasGrant[],
  faults: Faults,
  accessTokens: AccessTokens,
): Reply {
  const properties = (request.application_properties ?? {}) as Record<string, unknown>;
  const fault = faults.take('cbs');
  if (fault !== undefined) return cbsReply(fault.statusCode, fault.message);
  if (properties.operation !== 'put-token')
    return cbsReply(400, `Unsupported CBS operation '${String(properties.operation)}'.`);
  const jwt = properties.type === 'jwt';
  if (!jwt && properties.type !== 'servicebus.windows.net:sastoken') {
    return cbsReply(
      400,
      `Token type '${String(properties.type)}' is not supported: use a shared access signature or jwt.`,
    );
  }
  if (typeof request.body !== 'string')
    return cbsReply(400, 'The put-token body must be the token as a string.');
  try {
    grants.push(jwt ? accessTokens.verify(request.body) : verifySasToken(request.body, policies));
    return cbsReply(202, 'Accepted');
  } catch (error) {
    if (error instanceof SasError) return cbsReply(401, `InvalidSignature: ${error.message}.`);
    throw error;
  }
}

function cbsReply(statusCode: number, description: string): Reply {
  return { application_properties: { 'status-code': statusCode, 'status-description': description } };
}
