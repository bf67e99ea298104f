/**
 * The `sluice` command. `run(argv, out)` resolves with the exit code: 0 done, 1 failed (one line on
 * stderr), 2 bad usage (one line naming the problem).
 */
import { apply } from './commands/apply.js';
import { dlq } from './commands/dlq.js';
import { manifests } from './commands/manifests.js';
import { scaling } from './commands/scaling.js';
import { simulate } from './commands/simulate.js';
import { status } from './commands/status.js';
import { UsageError, type Command, type Output } from './usage.js';

export type { Command, Output } from './usage.js';
export { UsageError } from './usage.js';

const commands: Record<string, Command> = { manifests, apply, status, scaling, simulate, dlq };

function overview(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  return `Usage: sluice <command> [options]

Commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
  .join('\n')}

sluice <command> --help (or sluice help <command>) shows a command's options.`;
}

/** Runs the command line `argv` (without `node` and the script); resolves with the exit code. */
export async function run(argv: readonly string[], out: Output): Promise<number> {
  const [name, ...args] = argv;
  if (name === 'help' && args[0] !== undefined) return run([args[0], '--help'], out);
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    out.stdout.write(`${overview()}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  try {
    if (command === undefined) throw new UsageError(`unknown command "${name}" (sluice --help lists them)`);
    if (args.includes('--help') || args.includes('-h')) {
      if (name !== 'scaling') {
        out.stdout.write(`${command.help}\n`);
        return 0;
      }
    }
    return await command.run(args, out);
  } catch (error) {
    const message = (error as Error).message.split('\n')[0];
    if (error instanceof UsageError) {
      out.stderr.write(`sluice: ${message}\n`);
      return 2;
    }
    out.stderr.write(`sluice ${name}: ${message}\n`);
    return 1;
  }
}
