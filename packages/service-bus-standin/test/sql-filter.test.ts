import { describe, expect, it } from 'vitest';
import type { FilterableMessage } from '../src/filterable-message.js';
import { parseSqlFilter } from '../src/sql-filter.js';

function message(
  properties: Record<string, unknown>,
  system: Partial<FilterableMessage['system']> = {},
): FilterableMessage {
  return {
    properties,
    system: {
      MessageId: undefined,
      CorrelationId: undefined,
      To: undefined,
      ReplyTo: undefined,
      Label: undefined,
      SessionId: undefined,
      ReplyToSessionId: undefined,
      ContentType: undefined,
      ...system,
    },
  };
}

const matches = (expression: string, m: FilterableMessage) => parseSqlFilter(expression).matches(m);

describe('SQL filter subset', () => {
  it('compares numbers with = <> != > >= < <=', () => {
    const order = message({ totalAmount: 1500 });
    expect(matches('totalAmount > 1000', order)).toBe(true);
    expect(matches('totalAmount > 1500', order)).toBe(false);
    expect(matches('totalAmount >= 1500', order)).toBe(true);
    expect(matches('totalAmount < 1500.5', order)).toBe(true);
    expect(matches('totalAmount <= -1', order)).toBe(false);
    expect(matches('totalAmount = 1500', order)).toBe(true);
    expect(matches('totalAmount <> 1500', order)).toBe(false);
    expect(matches('totalAmount != 10', order)).toBe(true);
    expect(matches('1=1', order)).toBe(true);
    expect(matches('1=0', order)).toBe(false);
  });

  it('compares strings and booleans, with quoted quotes and [delimited] names', () => {
    const m = message({ region: "o'hare", 'odd name': 'x', vip: true });
    expect(matches("region = 'o''hare'", m)).toBe(true);
    expect(matches("[odd name] = 'x'", m)).toBe(true);
    expect(matches('vip = TRUE', m)).toBe(true);
    expect(matches('vip <> false', m)).toBe(true);
  });

  it('treats a missing user property as unknown: neither the comparison nor its negation matches', () => {
    const m = message({});
    expect(matches('totalAmount > 1000', m)).toBe(false);
    expect(matches('NOT (totalAmount > 1000)', m)).toBe(false);
    expect(matches('totalAmount > 1000 OR 1=1', m)).toBe(true);
    expect(matches('totalAmount > 1000 AND 1=0', m)).toBe(false);
    expect(matches('totalAmount IS NULL', m)).toBe(true);
    expect(matches('totalAmount IS NOT NULL', m)).toBe(false);
    expect(matches("totalAmount IN (1, 'a')", m)).toBe(false);
  });

  it('combines with AND, OR, NOT and parentheses, AND binding tighter than OR', () => {
    const m = message({ a: 1, b: 2 });
    expect(matches('a = 1 OR a = 2 AND b = 3', m)).toBe(true);
    expect(matches('(a = 1 OR a = 2) AND b = 3', m)).toBe(false);
    expect(matches('NOT a = 2 AND NOT (b = 3)', m)).toBe(true);
    expect(matches('a = 1 and b = 2', m)).toBe(true);
  });

  it('tests membership with [NOT] IN', () => {
    const m = message({ channel: 'web', n: 3 });
    expect(matches("channel IN ('web', 'app')", m)).toBe(true);
    expect(matches("channel NOT IN ('test', 'dev')", m)).toBe(true);
    expect(matches('n IN (1, 2)', m)).toBe(false);
  });

  it('reads system properties with sys. (case-insensitive) and user ones with user.', () => {
    const m = message(
      { Label: 'user label' },
      { Label: 'orders.placed', ContentType: 'application/json', MessageId: 'm-1' },
    );
    expect(matches("sys.Label = 'orders.placed'", m)).toBe(true);
    expect(matches("SYS.label = 'orders.placed'", m)).toBe(true);
    expect(matches("sys.Subject = 'orders.placed'", m)).toBe(true);
    expect(matches("user.Label = 'user label'", m)).toBe(true);
    expect(matches("sys.ContentType = 'application/json' AND sys.MessageId = 'm-1'", m)).toBe(true);
    expect(matches('sys.CorrelationId IS NULL', m)).toBe(true);
  });

  it('is unknown, not an error, when types differ', () => {
    expect(matches("totalAmount = '1500'", message({ totalAmount: 1500 }))).toBe(false);
    expect(matches('flag > 1', message({ flag: true }))).toBe(false);
  });

  it('refuses what the subset does not cover, naming it and where', () => {
    expect(() => parseSqlFilter("name LIKE 'a%'")).toThrow(
      /LIKE is not supported by the stand-in at position 6/,
    );
    expect(() => parseSqlFilter('EXISTS(a)')).toThrow(/EXISTS is not supported/);
    expect(() => parseSqlFilter('a + 1 > 2')).toThrow(/arithmetic \('\+'\) is not supported/);
    expect(() => parseSqlFilter('sys.Nonsense = 1')).toThrow(/sys.Nonsense is not a system property/);
    expect(() => parseSqlFilter("a = 'open")).toThrow(/unterminated string literal at position 5/);
    expect(() => parseSqlFilter('a >')).toThrow(
      /expected a property or a literal at position 4 \(found the end\)/,
    );
    expect(() => parseSqlFilter('a = 1 b')).toThrow(/unexpected text at position 7/);
    expect(() => parseSqlFilter('(a = 1')).toThrow(/expected '\)'/);
    expect(() => parseSqlFilter('a')).toThrow(/expected a comparison, IN or IS \[NOT\] NULL/);
    expect(() => parseSqlFilter("'x' IS NULL")).toThrow(/IS NULL applies to a property/);
    expect(() => parseSqlFilter('a = "x"')).toThrow(/unexpected character '"'/);
    expect(() => parseSqlFilter('')).toThrow(/expected a property or a literal/);
  });
});
