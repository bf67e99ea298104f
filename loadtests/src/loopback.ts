/** Load is only ever sent to this machine: every URL a load test targets must be a loopback one. */

const loopbackHosts = new Set(['localhost', '[::1]', '::1']);

/** Returns `url` when its host is on the loopback range (127.0.0.0/8, localhost, ::1); throws otherwise. */
export function loopbackUrl(url: string, what: string): string {
  const { hostname } = new URL(url);
  if (loopbackHosts.has(hostname) || /^127(\.\d{1,3}){3}$/.test(hostname)) return url;
  throw new Error(`${what} must be a loopback address (127.0.0.0/8, localhost or ::1), got ${hostname}`);
}
