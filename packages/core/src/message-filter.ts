/**
 * Declarative filters on message properties (headers), so an `@EventHandler` receives only the
 * messages it wants. Declarative rather than a callback so that brokers with subscription rules can
 * apply them on the broker side; the host applies them again on receive, so every transport behaves the
 * same. Numbers are compared numerically (header values are strings on the wire).
 */
export type MessageFilter =
  | { readonly property: string; readonly equals: string | number | boolean }
  | { readonly property: string; readonly in: readonly (string | number)[] }
  | { readonly property: string; readonly gt: number }
  | { readonly property: string; readonly gte: number }
  | { readonly property: string; readonly lt: number }
  | { readonly property: string; readonly lte: number }
  | { readonly property: string; readonly exists: boolean }
  | { readonly all: readonly MessageFilter[] }
  | { readonly any: readonly MessageFilter[] };

function asNumber(value: string | undefined): number {
  return value === undefined || value.trim() === '' ? Number.NaN : Number(value);
}

/** True when the message headers satisfy `filter`. A missing property fails every comparison. */
export function matchesFilter(filter: MessageFilter, headers: Readonly<Record<string, string>>): boolean {
  if ('all' in filter) return filter.all.every((f) => matchesFilter(f, headers));
  if ('any' in filter) return filter.any.some((f) => matchesFilter(f, headers));
  const value = Object.hasOwn(headers, filter.property) ? headers[filter.property] : undefined;
  if ('exists' in filter) return (value !== undefined) === filter.exists;
  if ('equals' in filter) return value !== undefined && value === String(filter.equals);
  if ('in' in filter) return value !== undefined && filter.in.some((v) => String(v) === value);
  const n = asNumber(value);
  if ('gt' in filter) return n > filter.gt;
  if ('gte' in filter) return n >= filter.gte;
  if ('lt' in filter) return n < filter.lt;
  return n <= filter.lte;
}

/** Problems with a filter's shape, as readable strings (empty when valid). */
export function describeFilterProblems(filter: unknown, path = 'filter'): string[] {
  if (typeof filter !== 'object' || filter === null) return [`${path} must be an object`];
  const f = filter as Record<string, unknown>;
  for (const group of ['all', 'any'] as const) {
    if (group in f) {
      const list = f[group];
      if (!Array.isArray(list) || list.length === 0) return [`${path}.${group} must be a non-empty array`];
      return list.flatMap((item, i) => describeFilterProblems(item, `${path}.${group}[${i}]`));
    }
  }
  if (typeof f.property !== 'string' || f.property === '')
    return [`${path}.property must be a non-empty string`];
  const operators = ['equals', 'in', 'gt', 'gte', 'lt', 'lte', 'exists'].filter((op) => op in f);
  if (operators.length !== 1) {
    return [`${path} must have exactly one of equals, in, gt, gte, lt, lte, exists`];
  }
  const op = operators[0] as string;
  const operand = f[op];
  if (['gt', 'gte', 'lt', 'lte'].includes(op) && !Number.isFinite(operand)) {
    return [`${path}.${op} must be a finite number`];
  }
  if (op === 'in' && !Array.isArray(operand)) return [`${path}.in must be an array`];
  if (op === 'exists' && typeof operand !== 'boolean') return [`${path}.exists must be a boolean`];
  return [];
}
