/** The demo's HTTP API: accept orders (202 at once) and uploads (onto the bounded background queue). */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { ErrorCodes, hasErrorCode, type BackgroundTaskQueue, type Bus, type Logger } from '@sluice/core';
import { z } from 'zod';
import { OrderPlaced, orderSchema } from './messages.js';

const maxBodyBytes = 64 * 1024;
const newOrderSchema = orderSchema.omit({ orderId: true });
const uploadSchema = z.object({
  name: z.string().min(1),
  processingMs: z.int().min(0).max(10_000).default(200),
});

const tracer = trace.getTracer('@sluice/example-orders');

class BadRequest extends Error {}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBodyBytes) throw new BadRequest(`body larger than ${maxBodyBytes} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new BadRequest('body is not valid JSON');
  }
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
}

export function createApi({ bus, uploads, logger }: ApiDependencies): Server {
  async function placeOrder(request: IncomingMessage, response: ServerResponse) {
    const parsed = newOrderSchema.safeParse(await readJson(request));
    if (!parsed.success) return send(response, 400, { error: 'invalid order', issues: parsed.error.issues });
    const order = { orderId: randomUUID(), ...parsed.data };
    await bus.publish(OrderPlaced, order, { messageId: order.orderId });
    // The trace id lets a caller open this order's trace in Jaeger: <jaeger>/trace/<traceId>.
    const traceId = trace.getActiveSpan()?.spanContext().traceId;
    logger.info({ orderId: order.orderId, totalAmount: order.totalAmount, traceId }, 'order accepted');
    send(response, 202, { orderId: order.orderId, traceId });
  }

  async function queueUpload(request: IncomingMessage, response: ServerResponse) {
    const parsed = uploadSchema.safeParse(await readJson(request));
    if (!parsed.success) return send(response, 400, { error: 'invalid upload', issues: parsed.error.issues });
    const { name, processingMs } = parsed.data;
    try {
      await uploads.enqueue(async (signal) => {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, processingMs);
          signal.addEventListener('abort', () => {
            clearTimeout(timer);
            resolve();
          });
        });
        logger.info({ name }, 'upload processed');
      });
    } catch (error) {
      if (hasErrorCode(error, ErrorCodes.QUEUE_FULL)) {
        return send(response, 503, { error: 'upload queue full, try again later' }, { 'retry-after': '1' });
      }
      throw error;
    }
    send(response, 202, { queued: name, waiting: uploads.size });
  }

  return createServer((request, response) => {
    const path = (request.url ?? '/').split('?', 1)[0] ?? '/';
    const route = `${request.method} ${path}`;
    const handler =
      route === 'POST /orders' ? placeOrder : route === 'POST /uploads' ? queueUpload : undefined;
    if (handler === undefined) {
      return send(response, 404, { error: 'not found', routes: ['POST /orders', 'POST /uploads'] });
    }
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
        if (error instanceof BadRequest) return send(response, 400, { error: error.message });
        logger.error({ err: error }, 'request failed');
        send(response, 500, { error: 'internal error' });
      });
  });
}
