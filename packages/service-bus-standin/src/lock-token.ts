import { randomUUID } from 'node:crypto';
import rhea from 'rhea';

/** A new lock token (a GUID in its string form, as the SDK shows it in `message.lockToken`). */
export function newLockToken(): string {
  return randomUUID();
}

/**
 * The delivery tag for `lockToken`: its 16 bytes in .NET GUID byte order (the first three groups
 * little-endian), which is how Service Bus writes lock tokens and how the SDK reorders them back.
 */
export function lockTokenDeliveryTag(lockToken: string): Buffer {
  const b = rhea.string_to_uuid(lockToken);
  return Buffer.from([b[3]!, b[2]!, b[1]!, b[0]!, b[5]!, b[4]!, b[7]!, b[6]!, ...b.subarray(8)]);
}

/** The lock token named by a `$management` request: a uuid in network byte order. */
export function lockTokenFromUuid(bytes: Buffer): string {
  return rhea.uuid_to_string(bytes);
}
