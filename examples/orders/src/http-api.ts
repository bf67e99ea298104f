/**
 * The demo's HTTP API: accept orders (202 at once) and uploads (onto the bounded background queue).
 * Requests are checked as a public API should: 404 for an unknown path, 405 with `Allow` for a known
 * one with another method, 415 unless the body is JSON, 413 past 64 KiB, 400 with the failing fields
 * (path and message only), 503 while the host is not running.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { ErrorCodes, hasErrorCode, type BackgroundTaskQueue, type Bus, type Logger } from '@sluice/core';
import { z } from 'zod';
import { OrderPlaced, orderSchema } from './messages.js';
import type { OrderStore } from './orders-database.js';

const maxBodyBytes = 64 * 1024;

/** A new order: its total must be what its items add up to (the VIP filter routes on it). */
const newOrderSchema = orderSchema.omit({ orderId: true }).superRefine((order, issues) => {
  const sum = order.items.reduce((total, item) => total + item.quantity * item.unitPrice, 0);
  if (Math.abs(sum - order.totalAmount) > 0.005) {
    issues.addIssue({
      code: 'custom',
      path: ['totalAmount'],
      message: `must equal the sum of quantity x unitPrice over the items (${sum})`,
    });
  }
});
const uploadSchema = z.object({
  name: z.string().min(1),
  processingMs: z.int().min(0).max(10_000).default(200),
});

const tracer = trace.getTracer('@sluice/example-orders');

/** A request the API refuses with `status`; `body` is sent as JSON. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
    readonly headers: Record<string, string> = {},
  ) {
    super(String(body.error));
  }
}

function isJson(contentType: string | undefined): boolean {
  const mediaType = contentType?.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  return mediaType === 'application/json' || /^application\/[\w.+-]+\+json$/.test(mediaType);
}

const tooLarge = () =>
  new Refusal(413, { error: `body larger than ${maxBodyBytes} bytes` }, { connection: 'close' });

async function readJson(request: IncomingMessage): Promise<unknown> {
  if (!isJson(request.headers['content-type'])) {
    throw new Refusal(
      415,
      { error: 'content-type must be application/json' },
      { 'accept-post': 'application/json' },
    );
  }
  if (Number(request.headers['content-length'] ?? 0) > maxBodyBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBodyBytes) throw tooLarge();
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new Refusal(400, { error: 'body is not valid JSON' });
  }
}

/** Schema issues as a client can use them: the field's path and a message, no schema internals. */
function parseOrRefuse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
  throw new Refusal(400, { error: `invalid ${what}`, issues });
}

function send(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  response
    .writeHead(status, { 'content-type': 'application/json', ...headers })
    .end(`${JSON.stringify(body)}\n`);
}

export interface ApiDependencies {
  readonly bus: Bus;
  readonly uploads: BackgroundTaskQueue;
  readonly logger: Logger;
  /** False while the consumer host is starting or stopping: requests get 503. */
  readonly isReady: () => boolean;
  /** Stores each order with its event in one transaction (DATABASE_URL). Default: publish only. */
  readonly orders?: OrderStore | undefined;
}

type Handler = (request: IncomingMessage, response: ServerResponse) => Promise<void>;

export function createApi({ bus, uploads, logger, isReady, orders }: ApiDependencies): Server {
  async function placeOrder(request: IncomingMessage, response: ServerResponse) {
    const order = {
      orderId: randomUUID(),
      ...parseOrRefuse(newOrderSchema, await readJson(request), 'order'),
    };
    const publish = (headers: Record<string, string> = {}) =>
      bus.publish(OrderPlaced, order, { messageId: order.orderId, headers });
    await (orders === undefined ? publish() : orders.place(order, publish));
    // The trace id lets a caller open this order's trace in Jaeger: <jaeger>/trace/<traceId>.
    const traceId = trace.getActiveSpan()?.spanContext().traceId;
    logger.info(
      { orderId: order.orderId, correlationId: order.orderId, totalAmount: order.totalAmount, traceId },
      'order accepted',
    );
    send(response, 202, { orderId: order.orderId, traceId });
  }

  async function queueUpload(request: IncomingMessage, response: ServerResponse) {
    const { name, processingMs } = parseOrRefuse(uploadSchema, await readJson(request), 'upload');
    try {
      await uploads.enqueue(async (signal) => {
        const finished = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(true), processingMs);
          signal.addEventListener('abort', () => {
            clearTimeout(timer);
            resolve(false);
          });
        });
        if (finished) logger.info({ name }, 'upload processed');
        else logger.warn({ name }, 'upload abandoned: the service stopped before it finished');
      });
    } catch (error) {
      if (hasErrorCode(error, ErrorCodes.QUEUE_FULL)) {
        throw new Refusal(503, { error: 'upload queue full, try again later' }, { 'retry-after': '1' });
      }
      throw error;
    }
    send(response, 202, { queued: name, waiting: uploads.size });
  }

  const routes: Record<string, Record<string, Handler>> = {
    '/orders': { POST: placeOrder },
    '/uploads': { POST: queueUpload },
  };

  return createServer((request, response) => {
    const path = (request.url ?? '/').split('?', 1)[0] ?? '/';
    const methods = Object.hasOwn(routes, path) ? routes[path] : undefined;
    if (methods === undefined) {
      return send(response, 404, { error: 'not found', routes: ['POST /orders', 'POST /uploads'] });
    }
    const handler = Object.hasOwn(methods, request.method ?? '') ? methods[request.method ?? ''] : undefined;
    if (handler === undefined) {
      const allow = Object.keys(methods).join(', ');
      return send(
        response,
        405,
        { error: `${request.method} is not allowed on ${path}; use ${allow}` },
        { allow },
      );
    }
    if (!isReady()) {
      return send(response, 503, { error: 'the service is starting or stopping' }, { 'retry-after': '1' });
    }
    const route = `${request.method} ${path}`;
    // A SERVER span per request, continuing the caller's trace, so one trace runs from the request to
    // every handler of the messages it published.
    const parent = propagation.extract(ROOT_CONTEXT, request.headers);
    const span = tracer.startSpan(
      route,
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': request.method ?? '', 'url.path': path, 'http.route': path },
      },
      parent,
    );
    response.on('finish', () => {
      span.setAttribute('http.response.status_code', response.statusCode);
      if (response.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    context
      .with(trace.setSpan(parent, span), () => handler(request, response))
      .catch((error: unknown) => {
        if (error instanceof Refusal) {
          send(response, error.status, error.body, error.headers);
          // A body refused before it was read to the end is not read further.
          if (!request.complete) response.on('finish', () => request.destroy());
          return;
        }
        logger.error({ err: error }, 'request failed');
        send(response, 500, { error: 'internal error' });
      });
  });
}
