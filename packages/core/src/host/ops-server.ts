/**
 * The host's HTTP port: `/healthz` (the process is alive), `/readyz` (connected, every consumer
 * attached, not draining) and `/metrics` (Prometheus text). Anything else is 404.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCodes, SluiceError } from '../errors.js';
import type { MetricsRegistry } from '../metrics-registry.js';

export interface OpsServerOptions {
  readonly port: number;
  /** Default `0.0.0.0` (reachable by the kubelet and Prometheus). */
  readonly host?: string;
}

export class OpsServer {
  private readonly server: Server;

  constructor(
    private readonly registry: MetricsRegistry,
    private readonly readiness: () => { ready: boolean; detail: Record<string, unknown> },
  ) {
    this.server = createServer((request, response) => {
      const path = (request.url ?? '/').split('?', 1)[0];
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        response.writeHead(405, { allow: 'GET, HEAD' }).end();
      } else if (path === '/healthz') {
        response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      } else if (path === '/readyz') {
        const { ready, detail } = this.readiness();
        response
          .writeHead(ready ? 200 : 503, { 'content-type': 'application/json' })
          .end(`${JSON.stringify({ ready, ...detail })}\n`);
      } else if (path === '/metrics') {
        this.registry.render().then(
          (text) =>
            response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(text),
          (error: unknown) => response.writeHead(500).end(String(error)),
        );
      } else {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      }
    });
    this.server.keepAliveTimeout = 5_000;
  }

  /**
   * Starts listening; resolves with the bound port (useful with port 0). A port in use or not allowed
   * rejects with `SLUICE_INVALID_OPTION` naming `http.port`.
   */
  listen(options: OpsServerOptions): Promise<number> {
    return new Promise((resolve, reject) => {
      const refused = (error: NodeJS.ErrnoException) => {
        const reason =
          error.code === 'EADDRINUSE'
            ? 'is already in use'
            : error.code === 'EACCES'
              ? 'needs privileges'
              : error.message;
        reject(
          new SluiceError(
            ErrorCodes.INVALID_OPTION,
            `ConsumerHost: option "http.port" ${options.port} on ${options.host ?? '0.0.0.0'} ${reason}`,
            { cause: error },
          ),
        );
      };
      this.server.once('error', refused);
      this.server.listen(options.port, options.host ?? '0.0.0.0', () => {
        this.server.off('error', refused);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  /** Stops listening and closes idle connections. Idempotent. */
  close(): Promise<void> {
    if (!this.server.listening) return Promise.resolve();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }
}
