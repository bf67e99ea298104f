/**
 * The rule of an endpoint's forwarding subscription, from its `MessageFilter`: a correlation filter
 * when the filter only asks for equal properties (Service Bus evaluates those cheapest), else a SQL
 * filter; `1=1` without a filter. Values are written as the envelope writes headers (a canonical
 * number as a number), so the broker compares what the host compares. The host checks the filter
 * again either way.
 */
import type { CorrelationRuleFilter, SqlRuleFilter } from '@azure/service-bus';
import type { MessageFilter } from '@sluice/core';
import { propertyValue } from './envelope.js';

/** The one rule Sluice keeps on each of its subscriptions. */
export const ruleName = 'sluice';

export type RuleFilter = SqlRuleFilter | CorrelationRuleFilter;

function literal(value: string | number | boolean): string {
  const written = propertyValue(String(value));
  return typeof written === 'number' ? String(written) : `'${written.replace(/'/g, "''")}'`;
}

/** A property reference: `user.<name>`, bracketed when the name is not a plain identifier. */
function property(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? `user.${name}` : `user.[${name.replace(/]/g, ']]')}]`;
}

function sql(filter: MessageFilter): string {
  if ('all' in filter) return filter.all.map((f) => `(${sql(f)})`).join(' AND ');
  if ('any' in filter) return filter.any.map((f) => `(${sql(f)})`).join(' OR ');
  const p = property(filter.property);
  if ('exists' in filter) return `${p} IS ${filter.exists ? 'NOT ' : ''}NULL`;
  if ('equals' in filter) return `${p} = ${literal(filter.equals)}`;
  if ('in' in filter)
    return filter.in.length === 0 ? '1=0' : `${p} IN (${filter.in.map(literal).join(', ')})`;
  if ('gt' in filter) return `${p} > ${filter.gt}`;
  if ('gte' in filter) return `${p} >= ${filter.gte}`;
  if ('lt' in filter) return `${p} < ${filter.lt}`;
  return `${p} <= ${filter.lte}`;
}

/** The equal properties a filter asks for, when that is all it asks; else undefined. */
function equalities(filter: MessageFilter): Record<string, string | number> | undefined {
  const parts = 'all' in filter ? filter.all : [filter];
  const properties: Record<string, string | number> = {};
  for (const part of parts) {
    if (!('property' in part) || !('equals' in part) || part.property in properties) return undefined;
    properties[part.property] = propertyValue(String(part.equals));
  }
  return properties;
}

/** The rule filter for `filter` (undefined: every message). */
export function ruleFilterFor(filter: MessageFilter | undefined): RuleFilter {
  if (filter === undefined) return { sqlExpression: '1=1' };
  const correlation = equalities(filter);
  return correlation === undefined ? { sqlExpression: sql(filter) } : { applicationProperties: correlation };
}

/** True when two rule filters select the same messages as written (Service Bus echoes what it was given). */
export function sameFilter(a: RuleFilter, b: RuleFilter): boolean {
  if ('sqlExpression' in a || 'sqlExpression' in b) {
    return 'sqlExpression' in a && 'sqlExpression' in b && a.sqlExpression.trim() === b.sqlExpression.trim();
  }
  const fields = [
    'correlationId',
    'messageId',
    'to',
    'replyTo',
    'subject',
    'sessionId',
    'replyToSessionId',
    'contentType',
  ] as const;
  if (fields.some((field) => (a[field] ?? undefined) !== (b[field] ?? undefined))) return false;
  const left = Object.entries(a.applicationProperties ?? {});
  const right = b.applicationProperties ?? {};
  return left.length === Object.keys(right).length && left.every(([key, value]) => right[key] === value);
}
