/**
 * `npm run loadtest:spike`: the spike scenario against the orders demo on RabbitMQ, on this machine.
 * Starts what it needs (a vhost of its own, `LOADTEST_REPLICAS` demo processes on it), drives the
 * scenario with the local driver, samples the backlog, waits for it to drain, counts from the
 * handlers' records how many accepted orders were handled by every handler, and from the broker's
 * dead-letter queues how many were given up on (the demo's gateway fails every third call, so a
 * payment can exhaust its retries), removes the vhost, and writes a JSON summary and an SVG chart.
 * Lost = accepted orders neither fully handled nor dead-lettered. The last line reads
 * `spike: sent N, accepted N, failed N, handled N, lost N, p50 X ms, p99 X ms, backlog peak N`; the
 * exit status is 1 when lost > 0.
 *
 * Environment: LOADTEST_PEAK_RPS (default 2,000), LOADTEST_DURATION_S (default 60), LOADTEST_REPLICAS
 * (default 2), LOADTEST_DRAIN_TIMEOUT_S (default 180), LOADTEST_OUT_DIR (default loadtests/results),
 * AMQP_URL (default amqp://guest:guest@127.0.0.1:5672) and RABBITMQ_MANAGEMENT_URL, both loopback only.
 */
import { randomUUID } from 'node:crypto';
import { Headers } from '@sluice/core';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BacklogSampler, backlogOf, deadLetterDepth } from './backlog-sampler.js';
import { startDemoReplicas, type DemoReplica } from './demo-replicas.js';
import { HandledTally } from './handled-tally.js';
import { drive, percentile, type DriveTotals, type SecondStats } from './load-driver.js';
import { loopbackUrl } from './loopback.js';
import { RabbitMqManagement } from './rabbitmq-management.js';
import { renderChart } from './run-chart.js';
import { durationOf, peakOf, spikeScenario } from './scenario-shape.js';

function positive(name: string): number | undefined {
  const value = process.env[name];
  if (value === undefined || value === '') return undefined;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) {
    throw new Error(`${name} must be a positive number (got ${JSON.stringify(value)})`);
  }
  return number;
}

const scenario = spikeScenario({
  peakRps: positive('LOADTEST_PEAK_RPS'),
  durationS: positive('LOADTEST_DURATION_S'),
});
const replicaCount = Math.round(positive('LOADTEST_REPLICAS') ?? 2);
const drainTimeoutS = positive('LOADTEST_DRAIN_TIMEOUT_S') ?? 180;
const outDir = process.env.LOADTEST_OUT_DIR ?? fileURLToPath(new URL('../results', import.meta.url));
const amqpBase = loopbackUrl(process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672', 'AMQP_URL');
const vhost = `sluice-loadtest.${randomUUID().slice(0, 8)}`;
const amqpUrl = Object.assign(new URL(amqpBase), { pathname: `/${encodeURIComponent(vhost)}` }).toString();
const management = new RabbitMqManagement(amqpBase);

interface DeadLetters {
  /** Accepted orders with a message in a dead-letter queue. */
  readonly orders: Set<string>;
  /** Per `<queue>: <fault reason> (<error type>)`, the count of messages. */
  readonly reasons: Record<string, number>;
}

/**
 * The accepted orders with a message in one of the vhost's dead-letter queues (their payloads carry the
 * order id) and the fault reasons there, read from the broker.
 */
async function deadLetters(orders: ReadonlyMap<string, number>): Promise<DeadLetters> {
  const found: DeadLetters = { orders: new Set(), reasons: {} };
  for (const queue of await management.queues(vhost)) {
    if (!queue.name.endsWith('.dlq') || queue.messages === 0) continue;
    for (const { payload, headers } of await management.peek(vhost, queue.name, queue.messages)) {
      const reason = `${queue.name}: ${String(headers[Headers.faultReason])} (${String(headers[Headers.faultErrorType])})`;
      found.reasons[reason] = (found.reasons[reason] ?? 0) + 1;
      try {
        const { orderId } = JSON.parse(payload) as { orderId?: unknown };
        if (typeof orderId === 'string' && orders.has(orderId)) found.orders.add(orderId);
      } catch {
        // not an order's message
      }
    }
  }
  return found;
}

const number = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number | undefined) => (n === undefined ? 'n/a' : n.toFixed(1));
const interactive = process.stderr.isTTY;

function progress(line: string, force = false): void {
  if (interactive) process.stderr.write(`\r${line.padEnd(130)}`);
  else if (force) process.stderr.write(`${line}\n`);
}

async function run() {
  const runDir = mkdtempSync(join(tmpdir(), 'sluice-loadtest-'));
  await management.createVhost(vhost);
  let replicas: DemoReplica[] = [];
  try {
    console.log(
      `spike: ${number(scenario.startRps)} -> ${number(peakOf(scenario))} requests/s over ${durationOf(scenario)} s against ${replicaCount} demo replicas on RabbitMQ vhost ${vhost}`,
    );
    replicas = await startDemoReplicas(replicaCount, amqpUrl, runDir);
    const sampler = new BacklogSampler(management, vhost, replicas);
    const tally = new HandledTally(replicas.map((replica) => replica.handledRecord));
    sampler.start();
    const startedAt = new Date().toISOString();
    const endS = durationOf(scenario);
    const result = await drive({
      scenario,
      targets: replicas.map((replica) => replica.api),
      onSecond: (second: SecondStats, totals: DriveTotals) => {
        const latest = sampler.latest;
        progress(
          `spike ${second.t + 1}/${endS} s  sent ${number(second.sent)}/s  total sent ${number(totals.sent)}  accepted ${number(totals.accepted)}  failed ${number(totals.failed)}  dropped ${number(totals.dropped)}  in flight ${number(totals.inFlight)}  p99 ${ms(second.p99Ms)} ms  backlog ${latest === undefined ? 'n/a' : number(backlogOf(latest))}  replicas ${latest?.replicasReady ?? '?'}/${replicas.length}`,
          (second.t + 1) % 5 === 0,
        );
      },
    });
    const loadEnded = performance.now();

    // Drained: every accepted order handled by all its handlers, as their records say, or (with the
    // work queues empty) given up on into a dead-letter queue, where it stays visible with its reason.
    // The dead-letter queues' contents are read once, at the end: every read counts as a delivery on a
    // quorum queue, and one with a delivery limit drops a message read too often.
    let handled = 0;
    let drainS: number | undefined;
    while ((performance.now() - loadEnded) / 1000 < drainTimeoutS) {
      tally.poll();
      handled = tally.completed(result.orders);
      const latest = sampler.latest;
      const inDeadLetterQueues = latest === undefined ? 0 : deadLetterDepth(latest);
      progress(
        `draining ${((performance.now() - loadEnded) / 1000).toFixed(0)} s  handled ${number(handled)}/${number(result.accepted)}  dead-lettered ${number(inDeadLetterQueues)}  backlog ${latest === undefined ? 'n/a' : number(backlogOf(latest))}`,
      );
      const settled = handled === result.accepted || (latest !== undefined && backlogOf(latest) === 0);
      if (settled && handled + inDeadLetterQueues >= result.accepted) {
        drainS = (performance.now() - loadEnded) / 1000;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const finalSample = await sampler.sample();
    await sampler.stop();
    if (interactive) process.stderr.write('\n');
    const exitCodes = await Promise.all(replicas.map((replica) => replica.stop()));
    replicas = [];
    tally.poll();
    handled = tally.completed(result.orders);
    const dead = await deadLetters(result.orders);
    const notHandled = tally.missing(result.orders, Number.POSITIVE_INFINITY);
    const lost = notHandled.filter(({ orderId }) => !dead.orders.has(orderId)).length;

    const peaks = sampler.peaks();
    const backlogPeak = Math.max(0, ...sampler.samples.map(backlogOf));
    const latency = {
      p50: percentile(result.latenciesMs, 50),
      p95: percentile(result.latenciesMs, 95),
      p99: percentile(result.latenciesMs, 99),
      max: percentile(result.latenciesMs, 100),
    };
    const errorRate =
      result.sent === 0 ? 0 : (result.failed + result.dropped) / (result.sent + result.dropped);
    const { thresholds } = scenario;
    const verdicts = {
      errorRate: {
        value: errorRate,
        limit: thresholds.maxErrorRate,
        pass: errorRate < thresholds.maxErrorRate,
      },
      p95Ms: { value: latency.p95, limit: thresholds.p95Ms, pass: (latency.p95 ?? 0) < thresholds.p95Ms },
      p99Ms: { value: latency.p99, limit: thresholds.p99Ms, pass: (latency.p99 ?? 0) < thresholds.p99Ms },
    };
    const summary = {
      scenario,
      startedAt,
      node: process.version,
      replicas: replicaCount,
      requests: {
        sent: result.sent,
        accepted: result.accepted,
        failed: result.failed,
        dropped: result.dropped,
        failures: result.failures,
      },
      latencyMs: latency,
      thresholds: verdicts,
      backlog: { peak: backlogPeak, peakPerQueue: peaks.broker, peakPerQueueFromMetrics: peaks.metrics },
      deadLetteredMessages: deadLetterDepth(finalSample),
      deadLetteredOrders: [...dead.orders],
      deadLetterReasons: dead.reasons,
      drainS: drainS ?? null,
      handled,
      lost,
      notHandled: notHandled.slice(0, 20),
      replicaExitCodes: exitCodes,
      seconds: result.seconds,
      samples: sampler.samples,
    };

    mkdirSync(outDir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const jsonPath = join(outDir, `spike-${stamp}.json`);
    const svgPath = join(outDir, `spike-${stamp}.svg`);
    writeFileSync(jsonPath, `${JSON.stringify(summary, null, 2)}\n`);
    const lastT = Math.max(endS, ...sampler.samples.map((s) => s.t));
    writeFileSync(
      svgPath,
      renderChart(
        `Orders demo spike on RabbitMQ: ${number(scenario.startRps)} -> ${number(peakOf(scenario))} req/s, ${replicaCount} replicas`,
        [
          {
            title: 'Requests per second (dropped: due while 4,000 were open)',
            unit: '/s',
            series: [
              { label: 'sent', colour: '#1f77b4', points: result.seconds.map((s) => [s.t, s.sent]) },
              { label: 'dropped', colour: '#ff7f0e', points: result.seconds.map((s) => [s.t, s.dropped]) },
            ],
          },
          {
            title: 'HTTP latency of the requests issued each second',
            unit: 'ms',
            series: [
              { label: 'p50', colour: '#2ca02c', points: result.seconds.map((s) => [s.t, s.p50Ms]) },
              { label: 'p99', colour: '#d62728', points: result.seconds.map((s) => [s.t, s.p99Ms]) },
            ],
          },
          {
            title: 'Backlog (work queues, messages)',
            unit: '',
            series: [
              {
                label: 'backlog',
                colour: '#9467bd',
                points: sampler.samples.map((s) => [s.t, backlogOf(s)]),
              },
            ],
          },
        ],
        lastT,
      ),
    );

    console.log(`\n| figure | value |\n|---|---:|`);
    console.log(
      `| requests sent / accepted / failed / dropped | ${number(result.sent)} / ${number(result.accepted)} / ${number(result.failed)} / ${number(result.dropped)} |`,
    );
    console.log(
      `| HTTP latency p50 / p95 / p99 / max (ms) | ${ms(latency.p50)} / ${ms(latency.p95)} / ${ms(latency.p99)} / ${ms(latency.max)} |`,
    );
    for (const [queue, peak] of Object.entries(peaks.broker).sort()) {
      if (peak > 0) console.log(`| backlog peak ${queue} | ${number(peak)} |`);
    }
    console.log(`| backlog peak, all work queues | ${number(backlogPeak)} |`);
    console.log(
      `| time to drain after the load (s) | ${drainS === undefined ? `not drained in ${drainTimeoutS} s` : drainS.toFixed(1)} |`,
    );
    console.log(
      `| orders handled by every handler / dead-lettered (in a DLQ with its reason) / lost | ${number(handled)} / ${number(dead.orders.size)} / ${number(lost)} |`,
    );
    for (const [reason, count] of Object.entries(dead.reasons))
      console.log(`| dead-lettered ${reason} | ${number(count)} |`);
    for (const [name, verdict] of Object.entries(verdicts)) {
      console.log(
        `| threshold ${name} < ${verdict.limit} | ${verdict.pass ? 'PASS' : 'FAIL'} (${typeof verdict.value === 'number' ? verdict.value.toFixed(name === 'errorRate' ? 4 : 1) : 'n/a'}) |`,
      );
    }
    console.log(`\nsummary: ${jsonPath}\nchart: ${svgPath}`);
    if (lost > 0)
      console.log(`not handled (first ${summary.notHandled.length}): ${JSON.stringify(summary.notHandled)}`);
    console.log(
      `spike: sent ${result.sent}, accepted ${result.accepted}, failed ${result.failed}, handled ${handled}, lost ${lost}, p50 ${ms(latency.p50)} ms, p99 ${ms(latency.p99)} ms, backlog peak ${backlogPeak}`,
    );
    rmSync(runDir, { recursive: true, force: true });
    return lost;
  } finally {
    await Promise.all(replicas.map((replica) => replica.stop()));
    await management.deleteVhost(vhost);
  }
}

process.exitCode = (await run()) > 0 ? 1 : 0;
