/** Turns payloads into bytes and back. Pluggable per host and bus; JSON by default. */
import { ErrorCodes, SluiceError } from './errors.js';

export interface Codec {
  /** MIME type written into `contentType`, such as `application/json`. */
  readonly contentType: string;
  encode(payload: unknown): Uint8Array;
  /** Throws on bytes it cannot read; the host then dead-letters the message with `decode-failed`. */
  decode(body: Uint8Array): unknown;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 JSON. `decode` rejects invalid UTF-8 and malformed JSON with `SLUICE_DECODE_FAILED`. */
export const jsonCodec: Codec = {
  contentType: 'application/json',
  encode(payload) {
    return Buffer.from(JSON.stringify(payload), 'utf8');
  },
  decode(body) {
    try {
      return JSON.parse(utf8.decode(body)) as unknown;
    } catch (error) {
      throw new SluiceError(
        ErrorCodes.DECODE_FAILED,
        `body is not valid UTF-8 JSON: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  },
};

/** Finds the codec for a received content type; rejects unknown ones with `SLUICE_DECODE_FAILED`. */
export function codecFor(codecs: readonly Codec[], contentType: string): Codec {
  const bare = contentType.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  const codec = codecs.find((c) => c.contentType === bare);
  if (codec === undefined) {
    throw new SluiceError(
      ErrorCodes.DECODE_FAILED,
      `no codec for content type "${contentType}" (known: ${codecs.map((c) => c.contentType).join(', ')})`,
    );
  }
  return codec;
}
