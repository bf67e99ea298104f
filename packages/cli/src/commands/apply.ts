import { applyManifests } from '@sluice/kube';
import { parse, type Command } from '../usage.js';
import { renderedObjects, renderHelp, renderOptions, type RenderArgs } from './render.js';

export const apply: Command = {
  summary: 'server-side apply the objects of an application (field manager "sluice")',
  help: `Usage: sluice apply --module <file> [options]

Renders what \`sluice manifests\` prints and server-side applies each object through the Kubernetes API
(field manager "sluice", conflicts forced to it), in order. Prints one line per object applied.

Options:
${renderHelp}
  --kubeconfig <file>  kubeconfig (default: KUBECONFIG, else ~/.kube/config)
  --context <name>     kubeconfig context (default: the current one)
  --dry-run            the server validates and answers without persisting
  -h, --help           this help`,
  async run(args, out) {
    const { values } = parse<RenderArgs & { kubeconfig?: string; context?: string; 'dry-run'?: boolean }>(
      'apply',
      args,
      {
        ...renderOptions,
        kubeconfig: { type: 'string' },
        context: { type: 'string' },
        'dry-run': { type: 'boolean' },
      },
    );
    const objects = await renderedObjects('apply', values);
    const applied = await applyManifests(objects, {
      kubeconfig: values.kubeconfig,
      context: values.context,
      dryRun: values['dry-run'],
    });
    for (const a of applied) {
      out.stdout.write(
        `${a.kind} ${a.namespace}/${a.name} applied${values['dry-run'] ? ' (dry run)' : ''}\n`,
      );
    }
    return 0;
  },
};
