import { execFileSync } from 'node:child_process';

const localManagementUrl = 'http://127.0.0.1:15672';

async function managementAnswers(): Promise<boolean> {
  try {
    await fetch(`${localManagementUrl}/api/overview`, { signal: AbortSignal.timeout(2_000) });
    return true;
  } catch {
    return false;
  }
}

/**
 * The queue-depth tests read RabbitMQ's management API (KEDA's http mode reads it too). A local
 * broker without the plugin gets it enabled here, in CI and on a fresh machine alike; a broker
 * elsewhere (RABBITMQ_MANAGEMENT_URL set) is left alone.
 */
async function ensureManagementApi(): Promise<void> {
  if (process.env.RABBITMQ_MANAGEMENT_URL !== undefined || (await managementAnswers())) return;
  try {
    execFileSync('rabbitmq-plugins', ['enable', '--quiet', 'rabbitmq_management'], { stdio: 'ignore' });
  } catch {
    return; // no local broker tools: the queue-depth test reports the unreachable API
  }
  for (let waited = 0; waited < 30_000 && !(await managementAnswers()); waited += 500) {
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/**
 * Integration tests start real processes that import the built packages (as users' services do), so
 * the build must be current. `tsc -b` is incremental: a no-op when nothing changed.
 */
export default async function setup(): Promise<void> {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-b'], { stdio: 'inherit' });
  // The Service Bus lane: a namespace (or the official emulator) when the environment names one.
  console.log(
    process.env.SERVICEBUS_CONNECTION_STRING
      ? 'Service Bus integration tests run on the namespace SERVICEBUS_CONNECTION_STRING names'
      : 'Service Bus integration tests run on the in-process stand-in (SERVICEBUS_CONNECTION_STRING is not set)',
  );
  await ensureManagementApi();
}
