import { createHmac, timingSafeEqual } from 'node:crypto';

/** A shared access policy: the key name a client puts in `skn` and the key it signs with. */
export interface SasPolicy {
  readonly keyName: string;
  readonly key: string;
}

/** What a valid shared access signature grants: a resource (path, no host) until an instant. */
export interface SasGrant {
  /** Lower-case entity path the token was issued for, `''` for the whole namespace. */
  readonly resource: string;
  /** Epoch milliseconds after which the grant is void. */
  readonly expiresAt: number;
}

/** Why a token was refused (said to the client; never contains a key or a signature). */
export class SasError extends Error {
  override readonly name = 'SasError';
}

/**
 * Checks a `SharedAccessSignature sr=..&sig=..&se=..&skn=..` token (fields in any order) the way
 * Service Bus does: HMAC-SHA256 with the named policy's key over `sr + "\n" + se`, with `sr` exactly
 * as written in the token, and an expiry in the future. Resolves the grant or throws `SasError`.
 * The host in `sr` is not compared: a stand-in answers to 127.0.0.1 and localhost alike.
 */
export function verifySasToken(token: string, policies: readonly SasPolicy[], now = Date.now()): SasGrant {
  const prefix = 'SharedAccessSignature ';
  if (!token.startsWith(prefix)) throw new SasError('not a SharedAccessSignature token');
  const fields = new Map<string, string>();
  for (const pair of token.slice(prefix.length).split('&')) {
    const at = pair.indexOf('=');
    if (at > 0) fields.set(pair.slice(0, at), pair.slice(at + 1));
  }
  const sr = fields.get('sr');
  const sig = fields.get('sig');
  const se = fields.get('se');
  const skn = fields.get('skn');
  if (sr === undefined || sig === undefined || se === undefined || skn === undefined) {
    throw new SasError('the token lacks one of sr, sig, se, skn');
  }
  const policy = policies.find((candidate) => candidate.keyName === decodeComponent(skn));
  if (policy === undefined) throw new SasError(`no policy named '${decodeComponent(skn)}'`);
  const expected = createHmac('sha256', policy.key).update(`${sr}\n${se}`).digest();
  const given = Buffer.from(decodeComponent(sig), 'base64');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new SasError('the signature does not match the key');
  }
  const expiresAt = Number(se) * 1000;
  if (!Number.isFinite(expiresAt) || expiresAt <= now) throw new SasError('the token has expired');
  return { resource: resourcePath(decodeComponent(sr)), expiresAt };
}

/** Whether `grant` covers the entity at `path` (itself or anything below it), at `now`. */
export function grantCovers(grant: SasGrant, path: string, now = Date.now()): boolean {
  if (grant.expiresAt <= now) return false;
  const target = resourcePath(path);
  return grant.resource === '' || target === grant.resource || target.startsWith(`${grant.resource}/`);
}

/** `sb://host:port/a/b/?x` or `https://host/a/b` or `a/b` -> `a/b`, lower case. */
function resourcePath(resource: string): string {
  const withoutScheme = resource.replace(/^[a-z]+:\/\/[^/]*/i, '');
  return withoutScheme
    .split('?')[0]!
    .replace(/^\/+|\/+$/g, '')
    .toLowerCase();
}

function decodeComponent(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new SasError('the token is not URL-encoded correctly');
  }
}
