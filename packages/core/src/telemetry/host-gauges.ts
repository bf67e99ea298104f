/**
 * The host's observable OpenTelemetry gauges, read when metrics are collected: `sluice.queue.depth`
 * and `sluice.messages.in_flight` per consumed queue.
 */
import type { Meter, ObservableResult } from '@opentelemetry/api';
import { Attr } from './semconv.js';

/** Gauges the host feeds: queue depth and in-flight messages per queue, read at collection. */
export interface HostGauges {
  readonly queues: readonly string[];
  inFlight(queue: string): number;
  depth(queue: string): Promise<number>;
}

/** Starts observing `gauges` on `meter`; returns a function that stops (the host calls it on stop). */
export function observeHostGauges(meter: Meter, system: string, gauges: HostGauges): () => void {
  const base = { [Attr.messagingSystem]: system };
  const depthGauge = meter.createObservableGauge('sluice.queue.depth', {
    unit: '{message}',
    description: 'Messages ready in the queue.',
  });
  const observeDepth = async (result: ObservableResult) => {
    const depths = await Promise.allSettled(gauges.queues.map((queue) => gauges.depth(queue)));
    depths.forEach((depth, i) => {
      if (depth.status === 'fulfilled')
        result.observe(depth.value, { ...base, [Attr.destinationName]: gauges.queues[i] });
    });
  };
  const inFlightGauge = meter.createObservableUpDownCounter('sluice.messages.in_flight', {
    unit: '{message}',
    description: 'Messages being handled.',
  });
  const observeInFlight = (result: ObservableResult) => {
    for (const queue of gauges.queues)
      result.observe(gauges.inFlight(queue), { ...base, [Attr.consumerGroupName]: queue });
  };
  depthGauge.addCallback(observeDepth);
  inFlightGauge.addCallback(observeInFlight);
  return () => {
    depthGauge.removeCallback(observeDepth);
    inFlightGauge.removeCallback(observeInFlight);
  };
}
