import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadApplication } from '@sluice/kube';
import { runSimulation, type SpikeSpec } from '../simulate/run-simulation.js';
import { samplesCsv, samplesSvg } from '../simulate/report.js';
import { ScaledDeployment } from '../simulate/scaled-deployment.js';
import { parse, positiveInt, required, UsageError, type Command } from '../usage.js';

interface SimulateArgs {
  module?: string;
  messages?: string;
  compression?: string;
  'work-ms'?: string;
  url?: string;
  'management-url'?: string;
  out?: string;
  'max-seconds'?: string;
  values?: string[];
}

export const simulate: Command = {
  summary: 'scale real consumer processes on RabbitMQ through a traffic spike, as KEDA and the HPA would',
  help: `Usage: sluice simulate --module <file> [options]

Sends a bounded spike of messages to RabbitMQ and lets the KEDA + HPA simulator, fed the real queue
depth (management API: ready + unacknowledged, as KEDA's http mode reads it), start and stop real
processes of the application's consumer host: scale-out as the backlog grows, scale-in by SIGTERM
(the host drains within its deadline; SIGKILL after the termination grace), until the backlog is
drained and the replicas are back to zero. The ScaledObject is the one \`sluice manifests\` renders.
Every handled message id is counted across the processes: the run fails unless each message was handled
exactly once (or, after all its retries, dead-lettered once), none twice and none lost.

Time compression: KEDA, the HPA, the cooldown and the stabilisation windows run on a model clock
--compression times faster than the wall clock; message handling, process start-up and the drain are
real. Writes simulation.csv and simulation.svg (backlog, throughput, replicas over time) to --out and
prints a progress line every second.

The module must also export \`spike\`: { message: <a defineCommand/defineEvent definition>,
payload(index): <its payload> } (the orders example's sends ChargeCard).

Options:
  --module <file>          the application module (hostOptions and spike exports; required)
  --messages <n>           spike size (default 20000)
  --compression <n>        model seconds per wall-clock second (default 10)
  --work-ms <n>            extra time each handler call takes, standing in for real work (default 25)
  --url <amqp-url>         broker and vhost, whose queues must start empty (default: AMQP_URL,
                           else amqp://guest:guest@127.0.0.1:5672)
  --management-url <url>   RabbitMQ management API (default: RABBITMQ_MANAGEMENT_URL, else port 15672
                           of the AMQP host with its credentials)
  -f, --values <file>      chart values over the generated ones (KEDA bounds, behaviour); repeatable
  --out <dir>              where the CSV and the SVG go (default: .)
  --max-seconds <n>        give up after this many wall-clock seconds (default 600)
  -h, --help               this help`,
  async run(args, out) {
    const { values } = parse<SimulateArgs>('simulate', args, {
      module: { type: 'string' },
      messages: { type: 'string' },
      compression: { type: 'string' },
      'work-ms': { type: 'string' },
      url: { type: 'string' },
      'management-url': { type: 'string' },
      values: { type: 'string', short: 'f', multiple: true },
      out: { type: 'string' },
      'max-seconds': { type: 'string' },
    });
    const module = required('simulate', 'module', values.module);
    const messages = positiveInt('simulate', 'messages', values.messages, 20_000);
    const compression = positiveInt('simulate', 'compression', values.compression, 10);
    const workMs = values['work-ms'] === '0' ? 0 : positiveInt('simulate', 'work-ms', values['work-ms'], 25);
    const maxSeconds = positiveInt('simulate', 'max-seconds', values['max-seconds'], 600);
    const amqpUrl = values.url ?? process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
    let amqp: URL;
    try {
      amqp = new URL(amqpUrl);
    } catch {
      throw new UsageError(`simulate: --url is not a URL`);
    }
    const managementUrl =
      values['management-url'] ??
      process.env.RABBITMQ_MANAGEMENT_URL ??
      `http://${amqp.username || 'guest'}:${amqp.password || 'guest'}@${amqp.hostname}:15672`;

    process.env.LOG_LEVEL ??= 'warn'; // the application's own logs would drown the progress lines
    const app = await loadApplication(module);
    const imported = (await import(new URL(`file://${resolve(module)}`).href)) as { spike?: SpikeSpec };
    const spike = imported.spike;
    if (typeof spike?.payload !== 'function' || typeof spike.message?.type !== 'string') {
      throw new Error(`${module} has no "spike" export ({ message, payload(index) }) for sluice simulate`);
    }
    const { scaledObject, terminationGraceMs } = await ScaledDeployment.render(app, values.values);

    const outDir = values.out ?? '.';
    out.stdout.write(
      `sluice simulate: ${messages} messages, ${scaledObject.triggers.length} triggers, time compression x${compression} (KEDA polls every ${
        (scaledObject.pollingInterval ?? 30) / compression
      } s, the HPA every ${15 / compression} s of wall-clock time)\n`,
    );
    const result = await runSimulation({
      module,
      app,
      spike,
      scaledObject,
      messages,
      compression,
      amqpUrl,
      managementUrl,
      workMs,
      terminationGraceMs,
      maxSeconds,
      onSample: (s) =>
        out.stdout.write(
          `t=${s.t.toFixed(0).padStart(4)}s (model ${s.modelT}s)  sent ${s.sent}  backlog ${String(s.backlog).padStart(6)}  replicas ${s.replicas} (${s.ready} consuming)  handled ${s.handled}/${messages} (${s.deadLettered} dead-lettered)  ${s.throughput} msg/s\n`,
        ),
    });
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, 'simulation.csv'), samplesCsv(result.samples));
    writeFileSync(join(outDir, 'simulation.svg'), samplesSvg(result, compression));
    // Every message handled once, or (after all its retries) dead-lettered; none twice, none lost.
    const exactlyOnce = result.handledOnce + result.deadLettered === messages && result.duplicates === 0;
    out.stdout.write(
      [
        `peak backlog ${result.peakBacklog}, peak replicas ${result.peakReplicas}`,
        `drained in ${result.drainSeconds?.toFixed(1) ?? '-'} s, back to zero replicas in ${result.zeroSeconds?.toFixed(1) ?? '-'} s (wall clock; x${compression} in model time)`,
        `handled exactly once: ${result.handledOnce} of ${messages}; dead-lettered after retries ${result.deadLettered}; handled twice ${result.duplicates}; lost ${result.missing}`,
        `replica start-up: ${result.startupSeconds.length === 0 ? '-' : `${Math.min(...result.startupSeconds).toFixed(1)}-${Math.max(...result.startupSeconds).toFixed(1)} s`}, crashes ${result.crashes}`,
        `wrote ${join(outDir, 'simulation.csv')} and ${join(outDir, 'simulation.svg')}`,
        '',
      ].join('\n'),
    );
    if (!result.completed) throw new Error(`did not drain and return to zero within ${maxSeconds} s`);
    if (!exactlyOnce) throw new Error('messages were not handled exactly once (see the counts above)');
    return 0;
  },
};
