/**
 * A stand-in for the few Kubernetes API endpoints `sluice apply` and `sluice status` use: API
 * discovery of the kinds the chart renders, server-side apply (PATCH with application/apply-patch+yaml)
 * and GET of a ScaledObject and an HPA. It records every request. It proves what the CLI sends and how
 * it reads the answers, not how a real API server would judge the objects.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly contentType: string | undefined;
  readonly body: unknown;
}

const groups: Record<string, [string, string][]> = {
  '/api/v1': [
    ['Service', 'services'],
    ['ServiceAccount', 'serviceaccounts'],
    ['Pod', 'pods'],
  ],
  '/apis/apps/v1': [['Deployment', 'deployments']],
  '/apis/policy/v1': [['PodDisruptionBudget', 'poddisruptionbudgets']],
  '/apis/keda.sh/v1alpha1': [
    ['ScaledObject', 'scaledobjects'],
    ['TriggerAuthentication', 'triggerauthentications'],
  ],
  '/apis/autoscaling/v2': [['HorizontalPodAutoscaler', 'horizontalpodautoscalers']],
};

async function readBody(request: IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of request) text += String(chunk);
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Serves `objects` (by API path) for GET; starts on a free port of 127.0.0.1. */
export async function startFakeApiServer(objects: Record<string, unknown> = {}) {
  const requests: RecordedRequest[] = [];
  const server = createServer((request, response) => {
    void (async () => {
      const url = new URL(request.url ?? '/', 'http://localhost');
      const body = await readBody(request);
      requests.push({
        method: request.method ?? '',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        contentType: request.headers['content-type'],
        body,
      });
      const send = (status: number, payload: unknown) => {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(payload));
      };
      const group = groups[url.pathname];
      if (request.method === 'GET' && group !== undefined) {
        const groupVersion = url.pathname.replace(/^\/apis?\//, '');
        return send(200, {
          kind: 'APIResourceList',
          groupVersion,
          resources: group.map(([kind, name]) => ({
            kind,
            name,
            namespaced: true,
            singularName: '',
            verbs: ['get', 'patch'],
          })),
        });
      }
      if (request.method === 'PATCH') return send(200, body);
      const object = objects[url.pathname];
      if (request.method === 'GET' && object !== undefined) return send(200, object);
      return send(404, {
        kind: 'Status',
        status: 'Failure',
        message: `${url.pathname} not found`,
        code: 404,
      });
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const dir = mkdtempSync(join(tmpdir(), 'sluice-kubeconfig-'));
  const kubeconfig = join(dir, 'config');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        { name: 'fake', cluster: { server: `http://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } },
      ],
      users: [{ name: 'tester', user: { token: 'test-token' } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'tester', namespace: 'shop' } }],
      'current-context': 'fake',
    }),
  );
  return {
    requests,
    kubeconfig,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
