/**
 * The logger Sluice writes to: pino-compatible (pass a pino instance as is), structured (fields
 * first, message second). Without one, warnings and errors go to stderr ({@link stderrLogger}), so a
 * dead-lettered message or a lost connection is never silent; pass {@link silentLogger} for none.
 */
export interface Logger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
  /** A logger that adds `bindings` to every line. */
  child(bindings: Record<string, unknown>): Logger;
}

const noop = (): void => {};

/** Writes nothing. */
export const silentLogger: Logger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
};

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const levels: Record<LogLevel, number> = { debug: 20, info: 30, warn: 40, error: 50 };

function formatValue(value: unknown): string {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return JSON.stringify(`${value.name}${typeof code === 'string' ? ` ${code}` : ''}: ${value.message}`);
  }
  if (typeof value === 'string') return /^[\w.:/@-]+$/.test(value) ? value : JSON.stringify(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * A logger writing one human-readable line per call to stderr (through `console.error`): time, level, message, then `key=value`
 * fields; an `err` field is shown by name, code and message, and its stack follows on indented lines
 * at level `error` only. Lines below `level` (default `warn`) are dropped. The default of the host,
 * the bus's transport and the background queue.
 */
export function stderrLogger(
  level: LogLevel = 'warn',
  bindings: Readonly<Record<string, unknown>> = {},
  write: (line: string) => void = (line) => console.error(line),
): Logger {
  const threshold = levels[level];
  const log = (at: LogLevel) => (fields: object, message?: string) => {
    if (levels[at] < threshold) return;
    const all: Record<string, unknown> = { ...bindings, ...fields };
    const parts = [new Date().toISOString(), at.toUpperCase(), message ?? ''];
    for (const [key, value] of Object.entries(all)) {
      if (value !== undefined) parts.push(`${key}=${formatValue(value)}`);
    }
    let line = parts.filter((part) => part !== '').join(' ');
    const { err } = all;
    if (at === 'error' && err instanceof Error && err.stack !== undefined) {
      line += `\n${err.stack
        .split('\n')
        .slice(1)
        .map((frame) => `    ${frame.trim()}`)
        .join('\n')}`;
    }
    write(line);
  };
  return {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (more) => stderrLogger(level, { ...bindings, ...more }, write),
  };
}

/** The default logger: warnings and errors to stderr. */
export const defaultLogger: Logger = stderrLogger('warn');
