/** The options `sluice manifests` and `sluice apply` share: which application, broker and chart. */
import {
  chartValues,
  describeApplication,
  loadApplication,
  renderManifests,
  type ChartValues,
  type ManifestObject,
} from '@sluice/kube';
import { oneOf, required } from '../usage.js';

export const renderOptions = {
  module: { type: 'string' },
  transport: { type: 'string' },
  release: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  values: { type: 'string', short: 'f', multiple: true },
  chart: { type: 'string' },
} as const;

export const renderHelp = `  --module <file>      the application's module; it must have the named export
                       hostOptions(transport) returning its ConsumerHostOptions (required)
  --transport <name>   rabbitmq (default) or azure-servicebus: which KEDA scaler the triggers use
  --release <name>     helm release name (default: the service name)
  -n, --namespace <ns> namespace of the objects (default: default)
  -f, --values <file>  further chart values over the generated ones (image, secrets, ...); repeatable
  --chart <dir>        the chart (default: charts/sluice-consumer, which @sluice/kube ships)`;

export interface RenderArgs {
  module?: string;
  transport?: string;
  release?: string;
  namespace?: string;
  values?: string[];
  chart?: string;
}

/** The chart values generated from the application's decorators. */
export async function generatedValues(command: string, args: RenderArgs): Promise<ChartValues> {
  const module = required(command, 'module', args.module);
  const transport = oneOf(
    command,
    'transport',
    args.transport,
    ['rabbitmq', 'azure-servicebus'] as const,
    'rabbitmq',
  );
  return chartValues(describeApplication(await loadApplication(module)), transport);
}

/** The application's objects, rendered by helm from the generated values and `--values` files. */
export async function renderedObjects(command: string, args: RenderArgs): Promise<ManifestObject[]> {
  const values = await generatedValues(command, args);
  return renderManifests(values, {
    release: args.release ?? values.fullnameOverride,
    namespace: args.namespace,
    chart: args.chart,
    valuesFiles: args.values,
  });
}
