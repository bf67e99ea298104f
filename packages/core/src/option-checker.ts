/**
 * Validation of user-supplied options with one message format, so a misconfiguration fails at
 * start-up with `SLUICE_INVALID_OPTION` naming its owner and the option:
 * `@Consumer on ChargeCard: option "prefetch" must be an integer from 1 to 65535 (got -1)`.
 * Transports use it too; `redact` keeps secrets out of the message.
 */
import { ErrorCodes, SluiceError } from './errors.js';

export class OptionChecker {
  /**
   * @param where the owner named first in every message, such as `@Consumer on ChargeCard`.
   * @param redact applied to the shown value (to hide passwords in URLs, say).
   */
  constructor(
    private readonly where: string,
    private readonly redact: (text: string) => string = (text) => text,
  ) {}

  /** Throws for `option`, which `requirement` describes ("must be ..."), showing `value`. */
  fail(option: string, requirement: string, value: unknown): never {
    let shown: string;
    if (typeof value === 'function') shown = 'a function';
    else {
      try {
        shown = JSON.stringify(value) ?? String(value);
      } catch {
        shown = String(value);
      }
    }
    throw new SluiceError(
      ErrorCodes.INVALID_OPTION,
      `${this.where}: option "${option}" ${requirement} (got ${this.redact(shown)})`,
    );
  }

  int(option: string, value: unknown, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.fail(option, `must be an integer from ${min} to ${max}`, value);
    }
    return value;
  }

  number(option: string, value: unknown, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      this.fail(option, `must be a number from ${min} to ${max}`, value);
    }
    return value;
  }

  boolean(option: string, value: unknown): boolean {
    if (typeof value !== 'boolean') this.fail(option, 'must be a boolean', value);
    return value;
  }

  string(option: string, value: unknown): string {
    if (typeof value !== 'string' || value === '') this.fail(option, 'must be a non-empty string', value);
    return value;
  }

  /** One of `allowed`. */
  oneOf<T extends string>(option: string, value: unknown, allowed: readonly T[]): T {
    if (!allowed.includes(value as T))
      this.fail(option, `must be ${allowed.map((a) => `"${a}"`).join(' or ')}`, value);
    return value as T;
  }

  /** A plain object with any keys. */
  record(option: string, value: unknown): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.fail(option, 'must be an object', value);
    }
    return value as Record<string, unknown>;
  }

  /** A plain object whose keys are all in `known`. */
  object(option: string, value: unknown, known: ReadonlySet<string>): Record<string, unknown> {
    this.record(option, value);
    for (const key of Object.keys(value as object)) {
      if (!known.has(key))
        this.fail(`${option === '' ? '' : `${option}.`}${key}`, 'is not a known option', '...');
    }
    return value as Record<string, unknown>;
  }
}
