import { describe, expect, it } from 'vitest';
import { ConsumerHost, InMemoryTransport, MetricsRegistry } from '@sluice/core';

function sample(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  if (line === undefined) throw new Error(`${name} is not on /metrics`);
  return Number(line.split(' ').at(-1));
}

describe('process metrics on /metrics', () => {
  it('serves CPU, memory, start time and event-loop delay, once per registry', async () => {
    const metrics = new MetricsRegistry();
    const hosts = [1, 2].map(
      () =>
        new ConsumerHost({
          serviceName: 'svc',
          transport: new InMemoryTransport(),
          metrics,
          handleSignals: false,
        }),
    );
    for (const host of hosts) await host.start();
    // CPU time to count and a delayed event loop, repeated until the loop monitor (sampling every
    // 20 ms) has seen it: on a loaded machine its timer can be late.
    let text = '';
    for (let round = 0; round < 50 && !/^nodejs_eventloop_delay_max_seconds /m.test(text); round++) {
      const started = Date.now();
      while (Date.now() - started < 30);
      await new Promise((resolve) => setTimeout(resolve, 50));
      text = await metrics.render();
    }
    const cpu = process.cpuUsage();
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    for (const host of hosts) await host.stop();

    expect(sample(text, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(sample(text, 'process_cpu_seconds_total')).toBeCloseTo(
      sample(text, 'process_cpu_user_seconds_total') + sample(text, 'process_cpu_system_seconds_total'),
    );
    // The process's own total, counted once although two hosts share the registry.
    expect(sample(text, 'process_cpu_seconds_total')).toBeLessThanOrEqual(cpuSeconds + 0.001);
    expect(sample(text, 'process_cpu_seconds_total')).toBeGreaterThan(cpuSeconds * 0.9);
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(10 * 1024 * 1024);
    expect(sample(text, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(
      Math.abs(sample(text, 'process_start_time_seconds') - (Date.now() / 1000 - process.uptime())),
    ).toBeLessThan(2);
    expect(text).toMatch(/^nodejs_eventloop_delay_seconds\{quantile="0.99"\} \d/m);
    expect(sample(text, 'nodejs_eventloop_delay_max_seconds')).toBeGreaterThan(0.01);
    expect(text.match(/^# TYPE process_cpu_seconds_total counter$/gm)).toHaveLength(1);
  });

  it('can be turned off', async () => {
    const metrics = new MetricsRegistry();
    const host = new ConsumerHost({
      serviceName: 'svc',
      transport: new InMemoryTransport(),
      metrics,
      processMetrics: false,
      handleSignals: false,
    });
    await host.start();
    const text = await metrics.render();
    await host.stop();
    expect(text).not.toContain('process_cpu_seconds_total');
  });
});
