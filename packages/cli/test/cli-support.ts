/** Runs the CLI in process with its output captured. */
import { fileURLToPath } from 'node:url';
import { run } from '../src/main.js';

export const ordersModule = fileURLToPath(
  new URL('../../../examples/orders/src/sluice-app.ts', import.meta.url),
);

export async function sluice(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await run(argv, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  });
  return { code, stdout, stderr };
}
