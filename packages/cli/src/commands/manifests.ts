import { valuesYaml } from '@sluice/kube';
import { stringify } from 'yaml';
import { parse, type Command } from '../usage.js';
import { generatedValues, renderedObjects, renderHelp, renderOptions, type RenderArgs } from './render.js';

export const manifests: Command = {
  summary: 'render the chart values and the Kubernetes objects of an application',
  help: `Usage: sluice manifests --module <file> [options]

Reads the application's decorators and prints, as YAML, the Kubernetes objects of charts/sluice-consumer
for it (Deployment, ScaledObject with one trigger per consumed queue, TriggerAuthentication, Service,
ServiceAccount, PodDisruptionBudget, ...), rendered by helm. With --values-only it prints the generated
chart values instead (no helm needed).

Options:
${renderHelp}
  --values-only        print the chart values only
  -h, --help           this help`,
  async run(args, out) {
    const { values } = parse<RenderArgs & { 'values-only'?: boolean }>('manifests', args, {
      ...renderOptions,
      'values-only': { type: 'boolean' },
    });
    if (values['values-only']) {
      out.stdout.write(valuesYaml(await generatedValues('manifests', values)));
      return 0;
    }
    const objects = await renderedObjects('manifests', values);
    out.stdout.write(objects.map((o) => `---\n${stringify(o)}`).join(''));
    return 0;
  },
};
