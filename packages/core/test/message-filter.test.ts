import { describe, expect, it } from 'vitest';
import { matchesFilter } from '@sluice/core';
import { describeFilterProblems } from '../src/message-filter.js';

describe('message filters', () => {
  const headers = { totalAmount: '1500.5', country: 'CH', vip: 'true' };

  it('compares numbers numerically and strings exactly', () => {
    expect(matchesFilter({ property: 'totalAmount', gt: 1000 }, headers)).toBe(true);
    expect(matchesFilter({ property: 'totalAmount', gt: 2000 }, headers)).toBe(false);
    expect(matchesFilter({ property: 'totalAmount', lte: 1500.5 }, headers)).toBe(true);
    expect(matchesFilter({ property: 'country', equals: 'CH' }, headers)).toBe(true);
    expect(matchesFilter({ property: 'vip', equals: true }, headers)).toBe(true);
    expect(matchesFilter({ property: 'country', in: ['DE', 'CH'] }, headers)).toBe(true);
  });

  it('fails every comparison on a missing or non-numeric property', () => {
    expect(matchesFilter({ property: 'missing', gt: -1 }, headers)).toBe(false);
    expect(matchesFilter({ property: 'country', gt: -1 }, headers)).toBe(false);
    expect(matchesFilter({ property: 'missing', exists: false }, headers)).toBe(true);
  });

  it('combines with all / any', () => {
    const vipSwiss = {
      all: [
        { property: 'totalAmount', gt: 1000 },
        { property: 'country', equals: 'CH' },
      ],
    };
    expect(matchesFilter(vipSwiss, headers)).toBe(true);
    expect(matchesFilter({ any: [{ property: 'country', equals: 'DE' }, vipSwiss] }, headers)).toBe(true);
  });

  it('describes malformed filters', () => {
    expect(describeFilterProblems({ property: 'a', gt: 'x' })).toEqual(['filter.gt must be a finite number']);
    expect(describeFilterProblems({ property: 'a', gt: 1, lt: 2 })).toHaveLength(1);
    expect(describeFilterProblems({ all: [] })).toEqual(['filter.all must be a non-empty array']);
    expect(describeFilterProblems({ property: 'a', exists: true })).toEqual([]);
  });
});
