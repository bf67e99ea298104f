import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from '@sluice/core';

describe('metrics registry', () => {
  it('renders counters, gauges and cumulative histograms in Prometheus text format', async () => {
    const registry = new MetricsRegistry();
    registry.counter('jobs_total', 'Jobs.', ['queue']).with({ queue: 'a"b\\c' }).inc(3);
    registry.gauge('depth', 'Depth.', ['queue']).set({ queue: 'q' }, 7);
    const histogram = registry.histogram('duration_seconds', 'Duration.', ['queue'], [0.1, 1]);
    const observe = histogram.with({ queue: 'q' });
    observe.observe(0.05);
    observe.observe(0.5);
    observe.observe(5);
    registry.addCollector(() => registry.gauge('depth', 'Depth.', ['queue']).set({ queue: 'r' }, 1));
    const text = await registry.render();
    expect(text).toContain('# TYPE jobs_total counter\njobs_total{queue="a\\"b\\\\c"} 3');
    expect(text).toContain('depth{queue="q"} 7');
    expect(text).toContain('depth{queue="r"} 1');
    expect(text).toContain('duration_seconds_bucket{queue="q",le="0.1"} 1');
    expect(text).toContain('duration_seconds_bucket{queue="q",le="1"} 2');
    expect(text).toContain('duration_seconds_bucket{queue="q",le="+Inf"} 3');
    expect(text).toContain('duration_seconds_sum{queue="q"} 5.55');
    expect(text).toContain('duration_seconds_count{queue="q"} 3');
  });

  it('returns the registered metric for a repeated name and refuses a type clash', () => {
    const registry = new MetricsRegistry();
    expect(registry.counter('x', 'X.')).toBe(registry.counter('x', 'X.'));
    expect(() => registry.gauge('x', 'X.')).toThrow(/another type/);
  });
});
