/**
 * An open-model load driver: issues `POST /orders` on the schedule of an `ArrivalScenario` (as k6's
 * ramping-arrival-rate does), whatever the answers' latency, through one undici `Pool` of keep-alive
 * connections per target. Bounded: it sends at most the scenario's request count, stops issuing at the
 * scenario's end, gives each request 30 s, and never has more than `maxInFlight` requests open (a
 * request due while that many are open is counted as dropped, like k6's dropped iterations).
 */
import { Pool } from 'undici';
import { loopbackUrl } from './loopback.js';
import { arrivalsBy, durationOf, orderBody, type ArrivalScenario } from './scenario-shape.js';

const requestTimeoutMs = 30_000;
const tickMs = 5;

export interface DriveOptions {
  readonly scenario: ArrivalScenario;
  /** Base URLs of the orders APIs (loopback only); requests go round-robin. */
  readonly targets: readonly string[];
  /** Keep-alive connections per target. Default 64. */
  readonly connectionsPerTarget?: number;
  /** Default 4,000. */
  readonly maxInFlight?: number;
  /** Called about once a second while the run lasts. */
  readonly onSecond?: (second: SecondStats, totals: DriveTotals) => void;
}

/** What happened to the requests issued during one second of the run. */
export interface SecondStats {
  /** Seconds since the start (the second's start). */
  readonly t: number;
  readonly sent: number;
  readonly accepted: number;
  readonly failed: number;
  readonly dropped: number;
  /** Of the requests answered so far that were issued in this second; undefined when none. */
  readonly p50Ms: number | undefined;
  readonly p99Ms: number | undefined;
}

export interface DriveTotals {
  readonly sent: number;
  readonly accepted: number;
  readonly failed: number;
  readonly dropped: number;
  readonly inFlight: number;
}

export interface DriveResult extends DriveTotals {
  /** Accepted orders: id to total amount. */
  readonly orders: ReadonlyMap<string, number>;
  /** Every answered request's latency in ms (issue to full response), in completion order. */
  readonly latenciesMs: readonly number[];
  readonly seconds: readonly SecondStats[];
  /** Failure causes (status codes or error codes) with their counts. */
  readonly failures: Readonly<Record<string, number>>;
  /** Wall-clock length of the issuing phase, s. */
  readonly durationS: number;
}

/** The `p`-th percentile (0..100) of `values`, nearest rank; undefined for none. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

interface Bucket {
  sent: number;
  accepted: number;
  failed: number;
  dropped: number;
  latencies: number[];
}

/** Runs the scenario; resolves when it has ended and every issued request was answered or timed out. */
export async function drive(options: DriveOptions): Promise<DriveResult> {
  const { scenario } = options;
  const pools = options.targets.map(
    (target) =>
      new Pool(loopbackUrl(target, 'load target'), {
        connections: options.connectionsPerTarget ?? 64,
        headersTimeout: requestTimeoutMs,
        bodyTimeout: requestTimeoutMs,
      }),
  );
  const maxInFlight = options.maxInFlight ?? 4_000;
  const endS = durationOf(scenario);
  const total = Math.floor(arrivalsBy(scenario, endS));
  const buckets: Bucket[] = [];
  const bucket = (second: number): Bucket =>
    (buckets[second] ??= { sent: 0, accepted: 0, failed: 0, dropped: 0, latencies: [] });
  const orders = new Map<string, number>();
  const latenciesMs: number[] = [];
  const failures: Record<string, number> = {};
  const totals = { sent: 0, accepted: 0, failed: 0, dropped: 0, inFlight: 0 };
  let allAnswered: (() => void) | undefined;

  const fail = (b: Bucket, cause: string) => {
    totals.failed++;
    b.failed++;
    failures[cause] = (failures[cause] ?? 0) + 1;
  };

  async function send(i: number, second: number): Promise<void> {
    const b = bucket(second);
    const body = orderBody(i);
    const started = performance.now();
    try {
      const response = await pools[i % pools.length]!.request({
        path: '/orders',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const text = await response.body.text();
      const latency = performance.now() - started;
      latenciesMs.push(latency);
      b.latencies.push(latency);
      if (response.statusCode === 202) {
        totals.accepted++;
        b.accepted++;
        orders.set((JSON.parse(text) as { orderId: string }).orderId, body.totalAmount);
      } else {
        fail(b, `HTTP ${response.statusCode}`);
      }
    } catch (error) {
      fail(b, (error as { code?: string }).code ?? (error as Error).name);
    } finally {
      totals.inFlight--;
      if (totals.inFlight === 0) allAnswered?.();
    }
  }

  const start = performance.now();
  let issued = 0;
  let reported = 0;
  const report = (second: number) => {
    const b = bucket(second);
    options.onSecond?.(
      {
        t: second,
        sent: b.sent,
        accepted: b.accepted,
        failed: b.failed,
        dropped: b.dropped,
        p50Ms: percentile(b.latencies, 50),
        p99Ms: percentile(b.latencies, 99),
      },
      { ...totals },
    );
  };
  while (issued < total) {
    const elapsedS = (performance.now() - start) / 1000;
    if (elapsedS >= endS) break;
    const second = Math.floor(elapsedS);
    const due = Math.min(total, Math.floor(arrivalsBy(scenario, elapsedS)));
    for (; issued < due; issued++) {
      const b = bucket(second);
      if (totals.inFlight >= maxInFlight) {
        totals.dropped++;
        b.dropped++;
        continue;
      }
      totals.sent++;
      totals.inFlight++;
      b.sent++;
      void send(issued, second);
    }
    while (reported < second) report(reported++);
    await new Promise((resolve) => setTimeout(resolve, tickMs));
  }
  const durationS = (performance.now() - start) / 1000;
  if (totals.inFlight > 0) await new Promise<void>((resolve) => (allAnswered = resolve));
  while (reported < Math.ceil(durationS) && reported < buckets.length) report(reported++);
  await Promise.all(pools.map((pool) => pool.close()));

  const seconds = Array.from(buckets, (b, t) => {
    const s = b ?? { sent: 0, accepted: 0, failed: 0, dropped: 0, latencies: [] };
    return {
      t,
      sent: s.sent,
      accepted: s.accepted,
      failed: s.failed,
      dropped: s.dropped,
      p50Ms: percentile(s.latencies, 50),
      p99Ms: percentile(s.latencies, 99),
    };
  });
  return { ...totals, orders, latenciesMs, seconds, failures, durationS };
}
