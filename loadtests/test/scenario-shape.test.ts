import { describe, expect, it } from 'vitest';
import {
  arrivalsBy,
  durationOf,
  peakOf,
  rateAt,
  soakScenario,
  spikeScenario,
} from '../src/scenario-shape.js';

describe('spikeScenario', () => {
  it('holds a baseline, spikes to 20x, and recovers, over the whole duration', () => {
    const spike = spikeScenario();
    expect(durationOf(spike)).toBeCloseTo(60, 5);
    expect(peakOf(spike)).toBe(2_000);
    expect(spike.startRps).toBe(100);
    expect(rateAt(spike, 5)).toBe(100);
    expect(rateAt(spike, 25)).toBe(2_000);
    expect(rateAt(spike, 50)).toBe(100);
    expect(rateAt(spike, 60)).toBe(0);
  });

  it('scales to LOADTEST_PEAK_RPS and LOADTEST_DURATION_S values', () => {
    const spike = spikeScenario({ peakRps: 400, durationS: 12 });
    expect(durationOf(spike)).toBeCloseTo(12, 5);
    expect(peakOf(spike)).toBe(400);
    expect(spike.startRps).toBe(20);
  });

  it('refuses a peak below 20/s or a run under 10 s, naming the value', () => {
    expect(() => spikeScenario({ peakRps: 10 })).toThrow(/peak rate must be >= 20\/s \(got 10\)/);
    expect(() => spikeScenario({ durationS: 5 })).toThrow(/duration must be >= 10 s \(got 5\)/);
  });
});

describe('arrivalsBy', () => {
  it('integrates the linear ramps as k6 does', () => {
    const scenario = {
      name: 't',
      startRps: 0,
      stages: [
        { durationS: 10, targetRps: 100 },
        { durationS: 10, targetRps: 100 },
      ],
      thresholds: { maxErrorRate: 0, p95Ms: 0, p99Ms: 0 },
    };
    expect(arrivalsBy(scenario, 0)).toBe(0);
    expect(arrivalsBy(scenario, 5)).toBe(125);
    expect(arrivalsBy(scenario, 10)).toBe(500);
    expect(arrivalsBy(scenario, 20)).toBe(1_500);
    expect(arrivalsBy(scenario, 99)).toBe(1_500);
  });

  it('counts 40,200 requests for the default spike', () => {
    expect(arrivalsBy(spikeScenario(), 60)).toBeCloseTo(40_200, 5);
  });

  it('ramps a soak up within its first minute and holds it', () => {
    const soak = soakScenario({ rps: 50, durationS: 600 });
    expect(durationOf(soak)).toBe(600);
    expect(rateAt(soak, 30)).toBe(25);
    expect(rateAt(soak, 300)).toBe(50);
  });
});
