/**
 * Keeps secrets out of logs and errors: URLs are shown without their password (core's `redactUrl`),
 * and any text (such as a broker or socket error message) is scrubbed of every secret the transport
 * knows.
 */
import { redactUrl } from '@sluice/core';

export { decodeComponent, parseCredentialUrl, redactUrl } from '@sluice/core';

const mask = '***';

/** Scrubs known secrets (raw and URL-encoded) from text. */
export class Redactor {
  private readonly secrets: string[];

  constructor(secrets: readonly (string | undefined)[]) {
    const all = new Set<string>();
    for (const secret of secrets) {
      if (secret === undefined || secret.length < 3) continue;
      all.add(secret);
      all.add(encodeURIComponent(secret));
    }
    this.secrets = [...all].sort((a, b) => b.length - a.length);
  }

  /** `text` with every secret replaced by `***` and URL passwords masked. */
  text(text: string): string {
    let clean = text;
    for (const secret of this.secrets) clean = clean.split(secret).join(mask);
    return redactUrl(clean);
  }

  /** A new Error whose message (and cause chain, one level) carries no secret; `code` is kept. */
  error(error: unknown): Error {
    const source = error instanceof Error ? error : new Error(String(error));
    const clean = new Error(this.text(source.message));
    clean.name = source.name;
    if (source.stack !== undefined) clean.stack = this.text(source.stack);
    const code = (source as { code?: unknown }).code;
    if (code !== undefined) Object.assign(clean, { code });
    return clean;
  }
}
