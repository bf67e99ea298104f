import { describe, expect, it } from 'vitest';
import { grantCovers, verifySasToken } from '../src/sas.js';
import { sasToken } from './support/sas-token.js';

const policies = [{ keyName: 'root', key: 'secret-key' }];
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

describe('shared access signatures', () => {
  it('accepts a token signed with the named key and grants its resource path', () => {
    const grant = verifySasToken(
      sasToken('sb://127.0.0.1:5672/Orders', 'root', 'secret-key', inAnHour()),
      policies,
    );
    expect(grant.resource).toBe('orders');
    expect(grantCovers(grant, 'orders')).toBe(true);
    expect(grantCovers(grant, 'orders/$management')).toBe(true);
    expect(grantCovers(grant, 'Orders/Subscriptions/x')).toBe(true);
    expect(grantCovers(grant, 'orders2')).toBe(false);
    expect(grantCovers(grant, 'payments')).toBe(false);
  });

  it('grants the whole namespace to a namespace token, and reads fields in any order', () => {
    const token = sasToken('https://localhost:443/', 'root', 'secret-key', inAnHour());
    const [, fields] = token.split(' ');
    const reordered = `SharedAccessSignature ${fields!.split('&').reverse().join('&')}`;
    expect(grantCovers(verifySasToken(reordered, policies), 'anything/at/all')).toBe(true);
  });

  it('refuses a wrong key, an unknown policy, an expired or malformed token, without echoing it', () => {
    const wrongKey = sasToken('sb://h/q', 'root', 'other-key', inAnHour());
    expect(() => verifySasToken(wrongKey, policies)).toThrow('the signature does not match the key');
    expect(() => verifySasToken(sasToken('sb://h/q', 'nobody', 'secret-key', inAnHour()), policies)).toThrow(
      "no policy named 'nobody'",
    );
    const expired = sasToken('sb://h/q', 'root', 'secret-key', Math.floor(Date.now() / 1000) - 1);
    expect(() => verifySasToken(expired, policies)).toThrow('the token has expired');
    expect(() => verifySasToken('Bearer abc', policies)).toThrow('not a SharedAccessSignature token');
    expect(() => verifySasToken('SharedAccessSignature sr=a&sig=b', policies)).toThrow(/lacks one of/);
    try {
      verifySasToken(wrongKey, policies);
    } catch (error) {
      expect(String(error)).not.toContain(wrongKey.split('sig=')[1]!.split('&')[0]);
    }
  });

  it('lets a grant lapse at its expiry', () => {
    const grant = verifySasToken(sasToken('sb://h/q', 'root', 'secret-key', inAnHour()), policies);
    expect(grantCovers(grant, 'q', grant.expiresAt + 1)).toBe(false);
  });
});
