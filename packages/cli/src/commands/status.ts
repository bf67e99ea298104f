import { formatStatus, scalingStatus } from '@sluice/kube';
import { parse, required, type Command } from '../usage.js';

export const status: Command = {
  summary: "show a ScaledObject's conditions, its HPA's replicas and the queue depths",
  help: `Usage: sluice status --name <scaledobject> [options]

Reads the ScaledObject and the HPA KEDA made for it and prints the ScaledObject's conditions (Ready,
Active, Fallback), the HPA's current and desired replicas, and per trigger the queue and the depth KEDA
last fed the HPA.

Options:
  --name <name>        the ScaledObject (the chart names it after the release; required)
  -n, --namespace <ns> its namespace (default: default)
  --kubeconfig <file>  kubeconfig (default: KUBECONFIG, else ~/.kube/config)
  --context <name>     kubeconfig context
  --json               print JSON
  -h, --help           this help`,
  async run(args, out) {
    const { values } = parse<{
      name?: string;
      namespace?: string;
      kubeconfig?: string;
      context?: string;
      json?: boolean;
    }>('status', args, {
      name: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      json: { type: 'boolean' },
    });
    const result = await scalingStatus(
      required('status', 'name', values.name),
      values.namespace ?? 'default',
      {
        kubeconfig: values.kubeconfig,
        context: values.context,
      },
    );
    out.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatStatus(result)}\n`);
    return 0;
  },
};
