import { describe, expect, it } from 'vitest';
import { maxTimeSpan, parseDuration } from '../src/duration.js';

describe('ISO 8601 durations as Service Bus writes TimeSpans', () => {
  it('reads days, hours, minutes and fractional seconds', () => {
    expect(parseDuration('PT1M')).toBe(60_000);
    expect(parseDuration('PT0.5S')).toBe(500);
    expect(parseDuration('P1DT2H3M4S')).toBe(86_400_000 + 7_200_000 + 180_000 + 4_000);
    expect(parseDuration('P14D')).toBe(14 * 86_400_000);
    expect(parseDuration(maxTimeSpan)).toBeGreaterThan(9e14);
  });

  it('refuses what is not a day-time duration', () => {
    for (const text of ['P', 'PT', 'P1Y', 'P1M', '1 minute', 'PT-1S', ''])
      expect(parseDuration(text)).toBeUndefined();
  });
});
