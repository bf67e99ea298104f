import { createHash } from 'node:crypto';

/**
 * The 32-byte SHA-256 of `parts` joined by NUL: a fixed-size primary key for any key or message id
 * (a producer's id can be long or hold a NUL, which a `text` key could not store).
 */
export function digest(...parts: readonly string[]): Buffer {
  return createHash('sha256').update(parts.join('\0')).digest();
}
