/** Argument parsing shared by the commands: bad usage is a `UsageError` (exit code 2, one line). */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Wrong arguments: the CLI prints the message on one line and exits with 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Where a command writes. */
export interface Output {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

/** A subcommand: its help text and what it does; resolves with the exit code. */
export interface Command {
  readonly summary: string;
  readonly help: string;
  run(args: readonly string[], out: Output): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses `args` strictly into `Values` (the shape `options` declares) (unknown options and missing values are usage errors naming them); `--help`
 * is always accepted.
 */
export function parse<Values extends object = Record<string, never>>(
  command: string,
  args: readonly string[],
  options: Options,
  positionals = 0,
): { values: Values & { help?: boolean }; positionals: string[] } {
  try {
    const parsed = parseArgs({
      args: [...args],
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: positionals > 0,
      strict: true,
    }) as { values: Values & { help?: boolean }; positionals: string[] };
    if (!parsed.values.help && parsed.positionals.length > positionals) {
      throw new UsageError(`unexpected argument "${parsed.positionals[positionals]}"`);
    }
    return parsed;
  } catch (error) {
    const message = (error as Error).message.split('\n')[0] ?? '';
    throw new UsageError(`${command}: ${message.replace(/\. To specify.*$/, '')}`);
  }
}

/** The value of a required option, else a usage error naming it. */
export function required(command: string, name: string, value: string | undefined): string {
  if (value === undefined || value === '') throw new UsageError(`${command}: --${name} is required`);
  return value;
}

/** A positive integer option, else a usage error naming it. */
export function positiveInt(
  command: string,
  name: string,
  value: string | undefined,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) {
    throw new UsageError(`${command}: --${name} must be a positive integer (got "${value}")`);
  }
  return parsed;
}

/** One of `allowed`, else a usage error naming the option. */
export function oneOf<T extends string>(
  command: string,
  name: string,
  value: string | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) {
    throw new UsageError(
      `${command}: --${name} must be ${allowed.map((a) => `"${a}"`).join(' or ')} (got "${value}")`,
    );
  }
  return value as T;
}
