/**
 * Span creation with the messaging conventions' attributes, built only for spans that record, and how
 * a failure marks a span.
 */
import {
  isSpanContextValid,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type SpanKind,
} from '@opentelemetry/api';
import type { TransportMessage } from '../transport.js';
import { Attr } from './semconv.js';
import type { TransportDescription } from './transport-description.js';

const tracerName = '@sluice/core';

/** `error.type` of a failure: its Sluice (or other string) code, else its name. */
export function errorType(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : error.name || '_OTHER';
}

/** Marks `span` failed with `error`. */
export function fail(span: Span, error: Error): void {
  span.setAttribute(Attr.errorType, errorType(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}

const noFields: Readonly<Record<string, string>> = Object.freeze({});

/**
 * True when `span` carries a valid trace context. A recording span is an SDK's, whose context is valid
 * by construction: only a non-recording one has its ids checked (a pattern test per id).
 */
export function hasValidContext(span: Span): boolean {
  return span.isRecording() || isSpanContextValid(span.spanContext());
}

/** `trace_id` and `span_id` of the span active in `ctx`, for log lines; empty without a valid span. */
export function traceLogFields(ctx: Context): Readonly<Record<string, string>> {
  const span = trace.getSpan(ctx);
  if (span === undefined || !hasValidContext(span)) return noFields;
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

export class SpanFactory {
  private readonly tracer = trace.getTracer(tracerName);

  constructor(private readonly description: TransportDescription) {}

  /**
   * Attributes are built only for spans that record: without an SDK, or in an unsampled trace, a
   * message then costs next to nothing here. (Samplers do not see them at creation; the built-in
   * parent-based and ratio samplers do not look at attributes.)
   */
  start(name: string, kind: SpanKind, parent: Context, links: Link[], attributes: () => Attributes): Span {
    const span = this.tracer.startSpan(name, { kind, links }, parent);
    if (span.isRecording()) span.setAttributes(attributes());
    return span;
  }

  /** The attributes every messaging span has. */
  attributes(operation: string, type: string, destination: string): Attributes {
    const { description } = this;
    const attributes: Attributes = {
      [Attr.messagingSystem]: description.system,
      [Attr.operationName]: operation,
      [Attr.operationType]: type,
      [Attr.destinationName]: destination,
    };
    if (description.serverAddress !== undefined) attributes[Attr.serverAddress] = description.serverAddress;
    if (description.serverPort !== undefined) attributes[Attr.serverPort] = description.serverPort;
    return attributes;
  }

  /** Adds the attributes of one message to `attributes`. */
  messageAttributes(message: TransportMessage, attributes: Attributes): Attributes {
    attributes[Attr.messageId] = message.messageId;
    attributes[Attr.bodySize] = message.body.byteLength;
    if (message.correlationId !== undefined) attributes[Attr.conversationId] = message.correlationId;
    return attributes;
  }
}
