import { createHmac } from 'node:crypto';

/**
 * A shared access signature for `resourceUri`, computed here from the published scheme (not with the
 * stand-in's code): HMAC-SHA256 of `encodeURIComponent(uri) + "\n" + expiry`, base64, URL-encoded.
 */
export function sasToken(
  resourceUri: string,
  keyName: string,
  key: string,
  expiresAtSeconds: number,
): string {
  const sr = encodeURIComponent(resourceUri);
  const sig = encodeURIComponent(
    createHmac('sha256', key).update(`${sr}\n${expiresAtSeconds}`).digest('base64'),
  );
  return `SharedAccessSignature sr=${sr}&sig=${sig}&se=${expiresAtSeconds}&skn=${keyName}`;
}
