/**
 * `npm run loadtest:spike`: the spike scenario against the orders demo on RabbitMQ, on this machine.
 * Starts what it needs on a vhost of its own: the demo's API tier (one process, `ORDERS_CONSUME=0`)
 * and its consumers apart, scaled by the simulated KEDA + HPA of `sluice simulate` (or a fixed count
 * with LOADTEST_REPLICAS). It drives the scenario with the local driver, samples the backlog and the
 * replicas, waits for the drain, accounts for every accepted order by id (handled by all its handlers,
 * from the handlers' own records; dead-lettered, from the dead-letter queues; still queued; or lost),
 * removes the vhost, and writes a JSON summary and an SVG chart. The last line reads
 * `spike: sent N, accepted N, failed N, handled N, lost N, p50 X ms, p99 X ms, backlog peak N`; the
 * exit status is 1 when an order is lost or still queued at the end.
 *
 * Environment: LOADTEST_PEAK_RPS (default 2,000), LOADTEST_DURATION_S (default 60), LOADTEST_REPLICAS
 * (a fixed consumer count; default: scaled), LOADTEST_COMPRESSION (model seconds per second of the
 * simulated controllers, default 10), LOADTEST_REPLICA_NICE (the consumer replicas' nice value,
 * default 10, so that on one machine they do not take the API tier's CPU), LOADTEST_DRAIN_TIMEOUT_S
 * (default 180), LOADTEST_OUT_DIR (default loadtests/results), AMQP_URL (default
 * amqp://guest:guest@127.0.0.1:5672) and RABBITMQ_MANAGEMENT_URL, both loopback only.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BacklogSampler, backlogOf, type BacklogSample } from './backlog-sampler.js';
import { startConsumers, type Consumers } from './consumers.js';
import { HandledTally } from './handled-tally.js';
import { drive, percentile, type DriveTotals, type SecondStats } from './load-driver.js';
import { loopbackUrl } from './loopback.js';
import { OrderAccounting } from './order-accounting.js';
import { startOrdersApi, type OrdersApi } from './orders-api.js';
import { RabbitMqManagement } from './rabbitmq-management.js';
import { renderChart } from './run-chart.js';
import { durationOf, peakOf, spikeScenario } from './scenario-shape.js';
import { VhostContents } from './vhost-contents.js';

function positive(name: string): number | undefined {
  const value = process.env[name];
  if (value === undefined || value === '') return undefined;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) {
    throw new Error(`${name} must be a positive number (got ${JSON.stringify(value)})`);
  }
  return number;
}

function niceValue(name: string): number | undefined {
  const value = process.env[name];
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value) || Number(value) > 19) {
    throw new Error(`${name} must be a nice value from 0 to 19 (got ${JSON.stringify(value)})`);
  }
  return Number(value);
}

// The demo's own logs (its first rollout declares the topology in this process) would drown the report.
process.env.LOG_LEVEL ??= 'warn';
const scenario = spikeScenario({
  peakRps: positive('LOADTEST_PEAK_RPS'),
  durationS: positive('LOADTEST_DURATION_S'),
});
const fixedReplicas = positive('LOADTEST_REPLICAS');
const compression = positive('LOADTEST_COMPRESSION') ?? 10;
const replicaNice = niceValue('LOADTEST_REPLICA_NICE') ?? 10;
const drainTimeoutS = positive('LOADTEST_DRAIN_TIMEOUT_S') ?? 180;
const outDir = process.env.LOADTEST_OUT_DIR ?? fileURLToPath(new URL('../results', import.meta.url));
const amqpBase = loopbackUrl(process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672', 'AMQP_URL');
const vhost = `sluice-loadtest.${randomUUID().slice(0, 8)}`;
const amqpUrl = Object.assign(new URL(amqpBase), { pathname: `/${encodeURIComponent(vhost)}` }).toString();
const management = new RabbitMqManagement(amqpBase);

const number = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number | undefined) => (n === undefined ? 'n/a' : n.toFixed(1));
const interactive = process.stderr.isTTY;

function progress(line: string, force = false): void {
  if (interactive) process.stderr.write(`\r${line.padEnd(150)}`);
  else if (force) process.stderr.write(`${line}\n`);
}

/** How the replicas reacted: when the first consumed, the peak and when it was reached, the count at the end. */
function scalingReaction(samples: readonly BacklogSample[]) {
  const peak = Math.max(0, ...samples.map((s) => s.replicas));
  return {
    peakReplicas: peak,
    firstReplicaConsumingS: samples.find((s) => s.replicasReady > 0)?.t ?? null,
    peakReachedS: samples.find((s) => s.replicas === peak)?.t ?? null,
    replicasAtEnd: samples.at(-1)?.replicas ?? 0,
  };
}

async function run(): Promise<boolean> {
  const runDir = mkdtempSync(join(tmpdir(), 'sluice-loadtest-'));
  const recordDir = join(runDir, 'handled');
  mkdirSync(recordDir);
  await management.createVhost(vhost);
  const contents = new VhostContents(management, vhost, amqpUrl);
  let api: OrdersApi | undefined;
  let consumers: Consumers | undefined;
  try {
    consumers = await startConsumers({
      amqpUrl,
      managementUrl: process.env.RABBITMQ_MANAGEMENT_URL ?? management.url,
      recordDir,
      logDir: runDir,
      fixedReplicas: fixedReplicas === undefined ? undefined : Math.round(fixedReplicas),
      compression,
      priority: replicaNice,
    });
    api = await startOrdersApi(amqpUrl, runDir);
    const { scaling } = consumers;
    const scalingText =
      scaling.mode === 'fixed'
        ? `${scaling.maxReplicas} consumer replicas (fixed)`
        : `consumer replicas ${scaling.minReplicas}..${scaling.maxReplicas} scaled by the simulated KEDA + HPA (time x${compression}: KEDA polls every ${(scaling.pollingIntervalS ?? 30) / compression} s, cooldown ${(scaling.cooldownPeriodS ?? 300) / compression} s)`;
    console.log(
      `spike: ${number(scenario.startRps)} -> ${number(peakOf(scenario))} requests/s over ${durationOf(scenario)} s against the orders API (one process) on RabbitMQ vhost ${vhost}; ${scalingText}`,
    );
    const sampler = new BacklogSampler(management, vhost, consumers);
    const tally = new HandledTally(recordDir);
    sampler.start();
    const startedAt = new Date().toISOString();
    const endS = durationOf(scenario);
    const replicaText = (latest: BacklogSample | undefined) =>
      latest === undefined ? '?' : `${latest.replicasReady}/${latest.replicas}`;
    const result = await drive({
      scenario,
      targets: [api.url],
      onSecond: (second: SecondStats, totals: DriveTotals) => {
        const latest = sampler.latest;
        progress(
          `spike ${second.t + 1}/${endS} s  sent ${number(second.sent)}/s  total sent ${number(totals.sent)}  accepted ${number(totals.accepted)}  failed ${number(totals.failed)}  dropped ${number(totals.dropped)}  in flight ${number(totals.inFlight)}  p99 ${ms(second.p99Ms)} ms  backlog ${latest === undefined ? 'n/a' : number(backlogOf(latest))}  replicas ${replicaText(latest)}`,
          (second.t + 1) % 5 === 0,
        );
      },
    });

    const accounting = new OrderAccounting(result.orders, tally, contents);
    const drainS = await accounting.waitDrained(
      drainTimeoutS,
      () => sampler.latest,
      (pending, elapsedS) => {
        const latest = sampler.latest;
        progress(
          `draining ${elapsedS.toFixed(0)} s  orders not yet handled by all their handlers ${number(pending)} of ${number(result.accepted)}  backlog ${latest === undefined ? 'n/a' : number(backlogOf(latest))}  replicas ${replicaText(latest)}`,
          Math.floor(elapsedS * 4) % 20 === 0,
        );
      },
    );
    await sampler.sample();
    await sampler.stop();
    if (interactive) process.stderr.write('\n');
    await consumers.stop();
    const apiExitCode = await api.stop();
    const crashes = consumers.crashes;
    const startupSeconds = consumers.startupSeconds;
    consumers = undefined;
    api = undefined;
    const outcome = await accounting.settle();
    const lost = outcome.lost.length;

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
    const reaction = scalingReaction(sampler.samples);
    const summary = {
      scenario,
      startedAt,
      node: process.version,
      scaling: {
        ...scaling,
        ...reaction,
        replicaNice,
        replicaStartupSeconds: startupSeconds,
        replicaCrashes: crashes,
      },
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
      drainS: drainS ?? null,
      handled: outcome.handled,
      deadLetteredOrders: outcome.deadLettered.map((o) => o.orderId),
      deadLetterMessages: outcome.deadLetterMessages,
      deadLetterReasons: outcome.deadLetterReasons,
      undrained: outcome.undrained.slice(0, 50),
      lost,
      lostOrders: outcome.lost.slice(0, 50),
      apiExitCode,
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
        `Orders demo spike on RabbitMQ: ${number(scenario.startRps)} -> ${number(peakOf(scenario))} req/s, ${scaling.mode === 'fixed' ? `${scaling.maxReplicas} consumer replicas` : `consumers scaled ${scaling.minReplicas}..${scaling.maxReplicas} by KEDA + HPA (simulated, x${compression})`}`,
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
            title: 'Backlog (work and retry queues, messages)',
            unit: '',
            series: [
              {
                label: 'backlog',
                colour: '#9467bd',
                points: sampler.samples.map((s) => [s.t, backlogOf(s)]),
              },
            ],
          },
          {
            title: 'Consumer replicas',
            unit: '',
            series: [
              {
                label: 'set by KEDA / HPA',
                colour: '#1e8449',
                points: sampler.samples.map((s) => [s.t, s.replicas]),
              },
              {
                label: 'consuming',
                colour: '#7d3c98',
                points: sampler.samples.map((s) => [s.t, s.replicasReady]),
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
    console.log(`| backlog peak, work and retry queues | ${number(backlogPeak)} |`);
    console.log(
      `| consumer replicas: peak (reached at) / first consuming at / at the end | ${reaction.peakReplicas} (${reaction.peakReachedS?.toFixed(0) ?? '-'} s) / ${reaction.firstReplicaConsumingS?.toFixed(0) ?? '-'} s / ${reaction.replicasAtEnd} |`,
    );
    console.log(
      `| time to drain after the load (s) | ${drainS === undefined ? `not drained in ${drainTimeoutS} s` : drainS.toFixed(1)} |`,
    );
    console.log(
      `| orders handled by every handler / dead-lettered (in a DLQ with its reason) / still queued / lost | ${number(outcome.handled)} / ${number(outcome.deadLettered.length)} / ${number(outcome.undrained.length)} / ${number(lost)} |`,
    );
    for (const [reason, count] of Object.entries(outcome.deadLetterReasons))
      console.log(`| dead-lettered ${reason} | ${number(count)} |`);
    for (const [name, verdict] of Object.entries(verdicts)) {
      console.log(
        `| threshold ${name} < ${verdict.limit} | ${verdict.pass ? 'PASS' : 'FAIL'} (${typeof verdict.value === 'number' ? verdict.value.toFixed(name === 'errorRate' ? 4 : 1) : 'n/a'}) |`,
      );
    }
    console.log(`\nsummary: ${jsonPath}\nchart: ${svgPath}`);
    const failed = lost > 0 || outcome.undrained.length > 0;
    if (failed) {
      console.log(
        `not accounted for (first 10): ${JSON.stringify([...outcome.lost, ...outcome.undrained].slice(0, 10))}\nlogs and handled records kept in ${runDir}`,
      );
    } else {
      rmSync(runDir, { recursive: true, force: true });
    }
    console.log(
      `spike: sent ${result.sent}, accepted ${result.accepted}, failed ${result.failed}, handled ${outcome.handled}, lost ${lost}, p50 ${ms(latency.p50)} ms, p99 ${ms(latency.p99)} ms, backlog peak ${backlogPeak}`,
    );
    return !failed;
  } finally {
    await consumers?.stop();
    await api?.stop();
    await contents.close();
    await management.deleteVhost(vhost);
  }
}

process.exitCode = (await run()) ? 0 : 1;
