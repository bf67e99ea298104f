/**
 * What an operator looks at first for a consumer process, on the host's `/metrics` beside the
 * messaging metrics (names as prom-client's defaults, so existing dashboards read them): CPU seconds,
 * resident and heap memory, start time, and the event-loop delay since the previous scrape (a loop
 * blocked by a handler shows here before it shows as a backlog).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { MetricsRegistry } from './metrics-registry.js';

const quantiles = [0.5, 0.9, 0.99] as const;

const registered = new WeakSet<MetricsRegistry>();

/**
 * Registers the process metrics on `registry` (once per registry: a registry shared by two hosts
 * counts the process once); the returned function stops the loop monitor.
 */
export function registerProcessMetrics(registry: MetricsRegistry): () => void {
  if (registered.has(registry)) return () => undefined;
  registered.add(registry);
  const cpuUser = registry.counter('process_cpu_user_seconds_total', 'User CPU time spent, in seconds.');
  const cpuSystem = registry.counter(
    'process_cpu_system_seconds_total',
    'System CPU time spent, in seconds.',
  );
  const cpuTotal = registry.counter(
    'process_cpu_seconds_total',
    'User and system CPU time spent, in seconds.',
  );
  const resident = registry.gauge('process_resident_memory_bytes', 'Resident memory size, in bytes.');
  const heapUsed = registry.gauge('nodejs_heap_size_used_bytes', 'V8 heap in use, in bytes.');
  const heapTotal = registry.gauge('nodejs_heap_size_total_bytes', 'V8 heap allocated, in bytes.');
  const external = registry.gauge(
    'nodejs_external_memory_bytes',
    'Memory of C++ objects bound to JavaScript, in bytes.',
  );
  const startTime = registry.gauge(
    'process_start_time_seconds',
    'Start time of the process, in seconds since the epoch.',
  );
  const loopDelay = registry.gauge(
    'nodejs_eventloop_delay_seconds',
    'Event-loop delay quantiles over the time since the previous scrape, in seconds.',
    ['quantile'],
  );
  const loopDelayMax = registry.gauge(
    'nodejs_eventloop_delay_max_seconds',
    'Longest event-loop delay since the previous scrape, in seconds.',
  );

  startTime.set({}, Math.round(Date.now() / 1000 - process.uptime()));
  const monitor = monitorEventLoopDelay({ resolution: 20 });
  monitor.enable();
  let lastCpu = { user: 0, system: 0 };

  registry.addCollector(() => {
    const cpu = process.cpuUsage();
    const user = (cpu.user - lastCpu.user) / 1e6;
    const system = (cpu.system - lastCpu.system) / 1e6;
    lastCpu = cpu;
    cpuUser.inc({}, user);
    cpuSystem.inc({}, system);
    cpuTotal.inc({}, user + system);
    const memory = process.memoryUsage();
    resident.set({}, memory.rss);
    heapUsed.set({}, memory.heapUsed);
    heapTotal.set({}, memory.heapTotal);
    external.set({}, memory.external);
    if (monitor.count > 0) {
      for (const q of quantiles) loopDelay.set({ quantile: String(q) }, monitor.percentile(q * 100) / 1e9);
      loopDelayMax.set({}, monitor.max / 1e9);
    }
    monitor.reset();
  });
  return () => monitor.disable();
}
