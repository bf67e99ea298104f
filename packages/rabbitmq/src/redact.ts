/**
 * Keeps secrets out of logs and errors: URLs are shown without their password, and any text (such as
 * a broker or socket error message) is scrubbed of every secret the transport knows.
 */

const mask = '***';

/** `decodeURIComponent`, or undefined for a malformed escape (`%zz`, a lone `%`). */
export function decodeComponent(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/**
 * Parses a URL that may carry credentials. Undefined when it does not parse, or when it is ambiguous:
 * an `@` after the authority means a user name or password with an unescaped `/`, `?` or `#`, which
 * would be read as host, port and path, and shown.
 */
export function parseCredentialUrl(text: string): URL | undefined {
  const start = text.indexOf('//');
  if (start >= 0) {
    const rest = text.slice(start + 2);
    const end = rest.search(/[/?#]/);
    if (end >= 0 && rest.indexOf('@', end) >= 0) return undefined;
  }
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/** One word of text with any `//user:password@` masked, whatever characters the password holds. */
function maskWord(word: string): string {
  const start = word.indexOf('//');
  const at = word.lastIndexOf('@');
  if (start < 0 || at < start) return word;
  const parsed = parseCredentialUrl(word);
  if (parsed !== undefined) {
    if (parsed.password === '') return word;
    parsed.password = mask;
    return parsed.toString();
  }
  const userinfo = word.slice(start + 2, at);
  const colon = userinfo.indexOf(':');
  const user = colon < 0 ? '' : userinfo.slice(0, colon);
  const shown = colon >= 0 && !/[/?#%]/.test(user) ? `${user}:${mask}` : mask;
  return `${word.slice(0, start + 2)}${shown}${word.slice(at)}`;
}

/**
 * `url` with its password replaced by `***`. A URL that does not parse (or is ambiguous) has
 * everything up to its last `@` masked, spaces included; in text that does not start with a URL, every
 * `//user:password@` of each word is masked.
 */
export function redactUrl(url: string): string {
  if (!url.includes('@')) return url;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return maskWord(url);
  return url.split(/(\s+)/).map(maskWord).join('');
}

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
