/**
 * Keeps secrets of connection URLs out of errors and logs: the password of `scheme://user:password@`
 * and the value of every query parameter whose name says it holds a secret (`?password=`,
 * `sslpassword=`, `token=`, `secret=`, `key=`, `auth=`, `credential=` ...), which PostgreSQL and Redis
 * clients read as well as the userinfo. One implementation for every package that takes a URL.
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
 * A parameter whose name holds a secret, up to its value: in a URL's query (after `?`, `&` or `;`)
 * or a keyword/value connection string (`host=db password=...`, after a space or quote).
 */
const secretParameter =
  /((?:^|[?&;\s"'])[^=&#\s"']*(?:pass|secret|token|key|auth|cred)[^=&#\s"']*=)('[^']*'|[^&#\s"']*)/gi;

/**
 * `url` with its password, and the value of each secret parameter (see above), replaced by `***`. A
 * URL that does not parse (or is ambiguous) has everything up to its last `@` masked, spaces included;
 * in text that does not start with a URL, every `//user:password@` of each word is masked. Safe on a
 * URL shown as JSON (in quotes), as `OptionChecker` shows values.
 */
export function redactUrl(url: string): string {
  const masked = !url.includes('@')
    ? url
    : /^[a-z][a-z0-9+.-]*:\/\//i.test(url)
      ? maskWord(url)
      : url.split(/(\s+)/).map(maskWord).join('');
  return masked.replace(secretParameter, `$1${mask}`);
}
