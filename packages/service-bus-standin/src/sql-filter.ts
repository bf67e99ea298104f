import {
  type FilterableMessage,
  type SystemPropertyName,
  systemPropertyNames,
} from './filterable-message.js';

/**
 * The subset of Service Bus's SQL filter language a transport emits, parsed once and evaluated per
 * message with SQL's three-valued logic (a missing user property is unknown, and a rule matches only
 * when its predicate is true):
 *
 * - comparisons `= <> != > >= < <=` between properties and literals;
 * - `AND`, `OR`, `NOT`, parentheses;
 * - `x [NOT] IN (literal, ...)`, `x IS [NOT] NULL`;
 * - literals: numbers (`1000`, `-2.5`), strings (`'it''s'`), `TRUE`, `FALSE`, `NULL`;
 * - properties: `name` or `user.name` (application properties, case-sensitive), `[odd name]`, and
 *   `sys.Label`, `sys.MessageId`, ... (system properties, case-insensitive; `sys.Subject` is `sys.Label`).
 *
 * Keywords are case-insensitive. Anything else (`LIKE`, `EXISTS`, arithmetic, functions, unknown
 * system properties) is refused with `SqlFilterError` naming it and its position. Comparing values of
 * different types (a string with a number) is unknown rather than an evaluation error.
 */
export class SqlFilterError extends Error {
  override readonly name = 'SqlFilterError';
}

/** A parsed SQL filter. */
export interface SqlFilter {
  readonly expression: string;
  /** Whether the message satisfies the filter (unknown counts as not). */
  matches(message: FilterableMessage): boolean;
}

/** Parses `expression`; throws `SqlFilterError` for what the subset does not cover. */
export function parseSqlFilter(expression: string): SqlFilter {
  const parser = new Parser(tokenize(expression), expression);
  const predicate = parser.parse();
  return { expression, matches: (message) => predicate(message) === true };
}

type Value = string | number | boolean | null;
type Predicate = (message: FilterableMessage) => boolean | null;
type Operand = (message: FilterableMessage) => Value;

type Token =
  | { kind: 'word'; text: string; at: number }
  | { kind: 'property'; scope: 'user' | 'sys'; name: string; at: number }
  | { kind: 'string'; value: string; at: number }
  | { kind: 'number'; value: number; at: number }
  | { kind: 'symbol'; text: string; at: number }
  | { kind: 'end'; at: number };

const keywords = new Set(['AND', 'OR', 'NOT', 'IN', 'IS', 'NULL', 'TRUE', 'FALSE']);
const unsupportedKeywords = new Set(['LIKE', 'EXISTS', 'ESCAPE', 'BETWEEN']);
const comparisons = new Set(['=', '<>', '!=', '>', '>=', '<', '<=']);

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const fail = (what: string, at: number): never => {
    throw new SqlFilterError(`${what} at position ${at + 1} of the SQL filter '${source}'`);
  };
  while (i < source.length) {
    const c = source[i]!;
    if (/\s/.test(c)) {
      i += 1;
    } else if (c === "'") {
      const start = i;
      let value = '';
      i += 1;
      for (;;) {
        if (i >= source.length) fail('unterminated string literal', start);
        if (source[i] === "'") {
          if (source[i + 1] === "'") {
            value += "'";
            i += 2;
            continue;
          }
          i += 1;
          break;
        }
        value += source[i];
        i += 1;
      }
      tokens.push({ kind: 'string', value, at: start });
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(source[i + 1] ?? ''))) {
      const match = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(source.slice(i))!;
      tokens.push({ kind: 'number', value: Number(match[0]), at: i });
      i += match[0].length;
    } else if (c === '[' || /[A-Za-z_]/.test(c)) {
      const start = i;
      const parts: string[] = [];
      for (;;) {
        if (source[i] === '[') {
          const close = source.indexOf(']', i);
          if (close < 0) fail('unterminated [delimited identifier]', i);
          parts.push(source.slice(i + 1, close));
          i = close + 1;
        } else {
          const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i));
          if (match === null) fail('expected a name', i);
          parts.push(match![0]);
          i += match![0].length;
        }
        if (source[i] !== '.') break;
        i += 1;
      }
      tokens.push(identifierToken(parts, start, source[start] === '[', fail));
    } else {
      const two = source.slice(i, i + 2);
      if (comparisons.has(two)) {
        tokens.push({ kind: 'symbol', text: two, at: i });
        i += 2;
      } else if ('=<>(),'.includes(c)) {
        tokens.push({ kind: 'symbol', text: c, at: i });
        i += 1;
      } else if ('+-*/%'.includes(c)) {
        if (c === '-' && /[0-9.]/.test(source[i + 1] ?? '') && !endsOperand(tokens.at(-1))) {
          const match = /^-(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(source.slice(i))!;
          tokens.push({ kind: 'number', value: Number(match[0]), at: i });
          i += match[0].length;
        } else {
          fail(`arithmetic ('${c}') is not supported by the stand-in`, i);
        }
      } else {
        fail(`unexpected character '${c}'`, i);
      }
    }
  }
  tokens.push({ kind: 'end', at: source.length });
  return tokens;
}

function endsOperand(token: Token | undefined): boolean {
  return (
    token !== undefined &&
    (token.kind === 'property' ||
      token.kind === 'string' ||
      token.kind === 'number' ||
      (token.kind === 'symbol' && token.text === ')'))
  );
}

function identifierToken(
  parts: string[],
  at: number,
  delimited: boolean,
  fail: (what: string, at: number) => never,
): Token {
  if (parts.length === 1) {
    const upper = parts[0]!.toUpperCase();
    if (!delimited && keywords.has(upper)) return { kind: 'word', text: upper, at };
    if (!delimited && unsupportedKeywords.has(upper)) fail(`${upper} is not supported by the stand-in`, at);
    return { kind: 'property', scope: 'user', name: parts[0]!, at };
  }
  if (parts.length !== 2) fail(`'${parts.join('.')}' is not a property name`, at);
  const scope = parts[0]!.toLowerCase();
  if (scope === 'user') return { kind: 'property', scope: 'user', name: parts[1]!, at };
  if (scope !== 'sys') fail(`unknown scope '${parts[0]}' (use sys. or user.)`, at);
  const wanted = parts[1]!.toLowerCase() === 'subject' ? 'label' : parts[1]!.toLowerCase();
  const name = systemPropertyNames.find((candidate) => candidate.toLowerCase() === wanted);
  if (name === undefined) fail(`sys.${parts[1]} is not a system property the stand-in filters on`, at);
  return { kind: 'property', scope: 'sys', name: name!, at };
}

class Parser {
  private position = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly source: string,
  ) {}

  parse(): Predicate {
    const predicate = this.or();
    const rest = this.peek();
    if (rest.kind !== 'end') this.fail('unexpected text', rest);
    return predicate;
  }

  private or(): Predicate {
    let left = this.and();
    while (this.acceptWord('OR')) {
      const a = left;
      const b = this.and();
      left = (m) => {
        const x = a(m);
        if (x === true) return true;
        const y = b(m);
        if (y === true) return true;
        return x === null || y === null ? null : false;
      };
    }
    return left;
  }

  private and(): Predicate {
    let left = this.not();
    while (this.acceptWord('AND')) {
      const a = left;
      const b = this.not();
      left = (m) => {
        const x = a(m);
        if (x === false) return false;
        const y = b(m);
        if (y === false) return false;
        return x === null || y === null ? null : true;
      };
    }
    return left;
  }

  private not(): Predicate {
    if (this.acceptWord('NOT')) {
      const inner = this.not();
      return (m) => {
        const x = inner(m);
        return x === null ? null : !x;
      };
    }
    return this.primary();
  }

  private primary(): Predicate {
    if (this.acceptSymbol('(')) {
      const inner = this.or();
      this.expectSymbol(')');
      return inner;
    }
    const start = this.peek();
    const left = this.operand();
    const next = this.peek();
    if (next.kind === 'symbol' && comparisons.has(next.text)) {
      this.position += 1;
      return compare(left, next.text, this.operand());
    }
    if (this.acceptWord('IS')) {
      if (start.kind !== 'property') this.fail('IS NULL applies to a property', start);
      const negated = this.acceptWord('NOT');
      this.expectWord('NULL');
      return (m) => (left(m) === null) !== negated;
    }
    const negated = this.acceptWord('NOT');
    if (this.acceptWord('IN')) {
      this.expectSymbol('(');
      const candidates: Value[] = [this.literal()];
      while (this.acceptSymbol(',')) candidates.push(this.literal());
      this.expectSymbol(')');
      return (m) => {
        const value = left(m);
        if (value === null) return null;
        return candidates.some((candidate) => candidate !== null && equal(value, candidate)) !== negated;
      };
    }
    if (start.kind === 'word' && (start.text === 'TRUE' || start.text === 'FALSE') && !negated) {
      const constant = start.text === 'TRUE';
      return () => constant;
    }
    return this.fail('expected a comparison, IN or IS [NOT] NULL', this.peek());
  }

  private operand(): Operand {
    const token = this.peek();
    if (token.kind === 'property') {
      this.position += 1;
      if (token.scope === 'sys') {
        const name = token.name as SystemPropertyName;
        return (m) => m.system[name] ?? null;
      }
      const name = token.name;
      return (m) => scalar(m.properties[name]);
    }
    const value = this.literal();
    return () => value;
  }

  private literal(): Value {
    const token = this.peek();
    this.position += 1;
    if (token.kind === 'string' || token.kind === 'number') return token.value;
    if (token.kind === 'word' && token.text === 'TRUE') return true;
    if (token.kind === 'word' && token.text === 'FALSE') return false;
    if (token.kind === 'word' && token.text === 'NULL') return null;
    this.position -= 1;
    return this.fail('expected a property or a literal', token);
  }

  private peek(): Token {
    return this.tokens[this.position]!;
  }

  private acceptWord(word: string): boolean {
    const token = this.peek();
    if (token.kind === 'word' && token.text === word) {
      this.position += 1;
      return true;
    }
    return false;
  }

  private acceptSymbol(symbol: string): boolean {
    const token = this.peek();
    if (token.kind === 'symbol' && token.text === symbol) {
      this.position += 1;
      return true;
    }
    return false;
  }

  private expectWord(word: string): void {
    if (!this.acceptWord(word)) this.fail(`expected ${word}`, this.peek());
  }

  private expectSymbol(symbol: string): void {
    if (!this.acceptSymbol(symbol)) this.fail(`expected '${symbol}'`, this.peek());
  }

  private fail(what: string, token: Token): never {
    const found = token.kind === 'end' ? 'the end' : `'${this.source.slice(token.at, token.at + 12)}'`;
    throw new SqlFilterError(
      `${what} at position ${token.at + 1} (found ${found}) of the SQL filter '${this.source}'`,
    );
  }
}

function scalar(value: unknown): Value {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  return null;
}

function equal(a: Value, b: Value): boolean {
  return typeof a === typeof b && a === b;
}

function compare(left: Operand, operator: string, right: Operand): Predicate {
  return (m) => {
    const a = left(m);
    const b = right(m);
    if (a === null || b === null || typeof a !== typeof b) return null;
    switch (operator) {
      case '=':
        return a === b;
      case '<>':
      case '!=':
        return a !== b;
      default:
        if (typeof a === 'boolean') return null;
        if (operator === '>') return a > b;
        if (operator === '>=') return a >= b;
        if (operator === '<') return a < b;
        return a <= b;
    }
  };
}
