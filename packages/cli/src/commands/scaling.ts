import { readFileSync } from 'node:fs';
import { replay, type ReplayScenario } from '@sluice/kube';
import { parse, UsageError, type Command } from '../usage.js';

const replayHelp = `Usage: sluice scaling replay <scenario.json>

Replays a fixed metric series through the KEDA + HPA simulator (no broker, no cluster) and prints the
replica counts as JSON: { "replicas": [[t, n], ...] }, one pair at t = 0 (after the controllers' runs
at 0) and one at every change.

The scenario:
  { "scaledObject": <the spec of a KEDA ScaledObject: pollingInterval, cooldownPeriod,
      initialCooldownPeriod, minReplicaCount, maxReplicaCount, idleReplicaCount, fallback, advanced,
      triggers[{ type, metadata }]>,
    "initialReplicas": n,
    "metrics": [[[t, value], ...], ...]   one step-function series per trigger, from t = 0; a value
                                          applies from its t on; null = the scaler fails,
    "durationSeconds": n,
    "hpaSyncSeconds": 15 }
KEDA polls at t = 0, pollingInterval, 2 x pollingInterval, ...; the HPA syncs at t = 0, 15, 30, ...;
at the same instant KEDA runs first. Triggers: rabbitmq (value, activationValue), azure-servicebus
(messageCount, activationMessageCount), prometheus (threshold, activationThreshold).

Options:
  -h, --help           this help`;

export const scaling: Command = {
  summary: 'replay a metric series through the KEDA + HPA simulator',
  help: `Usage: sluice scaling <command>

Commands:
  replay <scenario.json>   replay a fixed metric series (see sluice scaling replay --help)`,
  async run(args, out) {
    const [sub, ...rest] = args;
    if (sub === undefined || sub === '--help' || sub === '-h') {
      out.stdout.write(`${this.help}\n`);
      return sub === undefined ? 2 : 0;
    }
    if (sub !== 'replay') throw new UsageError(`scaling: unknown command "${sub}" (known: replay)`);
    const { values, positionals } = parse('scaling replay', rest, {}, 1);
    if (values.help) {
      out.stdout.write(`${replayHelp}\n`);
      return 0;
    }
    const file = positionals[0];
    if (file === undefined) throw new UsageError('scaling replay: the scenario file is required');
    let scenario: ReplayScenario;
    try {
      scenario = JSON.parse(readFileSync(file, 'utf8')) as ReplayScenario;
    } catch (error) {
      throw new Error(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
    }
    out.stdout.write(`${JSON.stringify(replay(scenario))}\n`);
    return 0;
  },
};
