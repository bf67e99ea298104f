/**
 * AMQP field-table values as amqplib delivers them (strings, numbers, booleans, null, Buffers, arrays,
 * nested tables, `{ '!': 'timestamp' | 'decimal', value }`), handled without ever throwing: rendered
 * as text for Sluice's string headers, and made encodable again for a republished copy.
 *
 * Tables from the wire are read by their own keys only. amqplib assigns every key of a decoded table,
 * so a `__proto__` key holding a table becomes that object's prototype: such a prototype is read back
 * as the `__proto__` entry it was, never as inherited keys.
 */

/** Deeper nesting than this is rendered as text (bounded recursion on hostile input). */
const maxDepth = 32;

/** Largest field-table key: a `shortstr`. */
const maxKeyBytes = 255;

/** amqplib encodes a header table into a scratch buffer of this size (its `defs.js`). */
export const amqplibTableBuffer = 65_536;

/** Room left in a content-header frame for the properties other than the headers (8 shortstrs and the rest). */
const otherPropertiesBytes = 2_200;

/** Smallest timestamp and largest a `Date` holds, in ms (ECMAScript's time value range). */
const maxTimeMs = 8.64e15;

/** The largest double below 2^64: the largest `timestamp` amqplib can encode again. */
const maxTimestamp = 18_446_744_073_709_549_568;

type Table = Record<string, unknown>;

/**
 * True for real byte arrays only: `instanceof` would also accept a decoded table whose prototype is a
 * Buffer (a `__proto__` key holding bytes), whose byte accessors then throw.
 */
function isBytes(value: unknown): value is Uint8Array {
  return ArrayBuffer.isView(value) && !(value instanceof DataView);
}

function isTable(value: unknown): value is Table {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !isBytes(value);
}

/** The own entries of a decoded table, its prototype included when amqplib made one of a `__proto__` key. */
export function tableEntries(table: object): [string, unknown][] {
  const entries: [string, unknown][] = [];
  for (const key of Object.keys(table)) entries.push([key, (table as Table)[key]]);
  const prototype: unknown = Object.getPrototypeOf(table);
  if (prototype !== null && prototype !== Object.prototype) entries.push(['__proto__', prototype]);
  return entries;
}

/** A new table without a prototype: no key of it can be read through `Object.prototype` or a decoded one. */
export function emptyTable<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** A time in seconds as a `Date`, or undefined when outside what a `Date` holds. */
export function dateOfSeconds(seconds: unknown): Date | undefined {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || Math.abs(seconds * 1000) > maxTimeMs)
    return undefined;
  return new Date(seconds * 1000);
}

function typedTimestamp(value: object): number | undefined {
  if (!Object.hasOwn(value, '!') || (value as Table)['!'] !== 'timestamp') return undefined;
  const seconds = (value as Table).value;
  return typeof seconds === 'number' ? seconds : undefined;
}

/**
 * A byte array (AMQP type `x`: some clients send or forward text headers so) as its UTF-8 text; any
 * other value as it is.
 */
export function bytesAsText(value: unknown): unknown {
  return isBytes(value)
    ? Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8')
    : value;
}

/** A JSON-safe rendering, depth bounded. */
function plain(value: unknown, depth: number): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint') return String(value);
  if (isBytes(value)) return bytesAsText(value);
  if (typeof value !== 'object') return '';
  if (depth >= maxDepth) return `[nested deeper than ${maxDepth} levels]`;
  if (Array.isArray(value)) return value.map((item: unknown) => plain(item, depth + 1));
  const out = emptyTable<unknown>();
  for (const [key, item] of tableEntries(value)) out[key] = plain(item, depth + 1);
  return out;
}

/**
 * A header value from any publisher as a string: numbers, booleans, timestamps (ISO 8601 when a `Date`
 * holds them), bytes (UTF-8) and tables or arrays (JSON). Never throws.
 */
export function stringifyHeader(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  if (value === null || value === undefined) return '';
  if (isBytes(value)) return plain(value, 0) as string;
  if (typeof value !== 'object') return '';
  const seconds = typedTimestamp(value);
  if (seconds !== undefined) return dateOfSeconds(seconds)?.toISOString() ?? String(seconds);
  try {
    return JSON.stringify(plain(value, 0)) ?? '';
  } catch {
    return '';
  }
}

/** `text` cut to at most `maxBytes` of UTF-8, on a character boundary. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let cut = Buffer.from(text).subarray(0, maxBytes).toString('utf8');
  // A cut inside a character decodes to U+FFFD (3 bytes): drop characters until it fits.
  while (Buffer.byteLength(cut) > maxBytes) cut = cut.slice(0, -1);
  return cut;
}

function encodableNumber(value: number): unknown {
  // RabbitMQ closes the connection (541) on a NaN or infinite double: such a value travels as text.
  if (!Number.isFinite(value)) return String(value);
  // amqplib encodes integers as signed 64-bit \`long\`s and small fractions as doubles; integers below
  // -2^63 and large fractions make it throw unless typed as a double.
  if (Number.isSafeInteger(value) || Math.abs(value) < 2 ** 50) return value;
  return { '!': 'double', value };
}

function encodableTyped(value: Table): unknown {
  const type = value['!'];
  const inner = value.value;
  if (
    type === 'timestamp' &&
    Number.isInteger(inner) &&
    (inner as number) >= 0 &&
    (inner as number) <= maxTimestamp
  )
    return { '!': 'timestamp', value: inner };
  if (type === 'decimal' && isTable(inner)) {
    const { places, digits } = inner;
    if (
      Number.isInteger(places) &&
      (places as number) >= 0 &&
      (places as number) <= 255 &&
      Number.isInteger(digits) &&
      (digits as number) >= 0 &&
      (digits as number) <= 0xffff_ffff
    )
      return { '!': 'decimal', value: { places, digits } };
  }
  // Not a typed value amqplib can write (a foreign table that has a "!" key): kept as its text.
  return stringifyHeader(value);
}

/** `value` as something amqplib's field-table encoder writes without throwing. */
export function encodableValue(value: unknown, depth = 0): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return encodableNumber(value);
  if (typeof value === 'bigint')
    return value >= -(2n ** 63n) && value < 2n ** 63n ? { '!': 'long', value } : String(value);
  if (isBytes(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (typeof value !== 'object') return null;
  if (depth >= maxDepth) return stringifyHeader(value);
  if (Array.isArray(value)) return value.map((item: unknown) => encodableValue(item, depth + 1));
  if (Object.hasOwn(value, '!')) return encodableTyped(value as Table);
  const table = emptyTable<unknown>();
  for (const [key, item] of tableEntries(value))
    table[truncateUtf8(key, maxKeyBytes)] = encodableValue(item, depth + 1);
  return table;
}

/** An upper bound of the bytes amqplib writes for `value` as a field value (tag included). */
export function encodedSize(value: unknown): number {
  if (typeof value === 'string') return 5 + Buffer.byteLength(value);
  if (value === null || value === undefined) return 1;
  if (typeof value === 'boolean') return 2;
  if (typeof value !== 'object') return 9;
  if (isBytes(value)) return 5 + value.byteLength;
  if (Array.isArray(value))
    return 5 + value.reduce((sum: number, item: unknown) => sum + encodedSize(item), 0);
  if (Object.hasOwn(value, '!')) return 9;
  let size = 5;
  for (const [key, item] of tableEntries(value)) size += 1 + Buffer.byteLength(key) + encodedSize(item);
  return size;
}

/** Bytes a message's header table may take on a connection with `frameMax` (amqplib's and the frame's limit). */
export function headerBudget(frameMax: number): number {
  return Math.max(0, Math.min(amqplibTableBuffer, frameMax - otherPropertiesBytes));
}

/** Entry sizes the way {@link encodedSize} counts them inside a table. */
function entrySize(key: string, value: unknown): number {
  return 1 + Buffer.byteLength(key) + encodedSize(value);
}

/**
 * A header table for a republished copy: the `kept` entries made encodable, then `set`, within
 * `budget` bytes. When they do not fit, the largest kept entries are left out (their names are
 * returned) and then the longest `set` values cut short.
 */
export function fitHeaders(
  kept: readonly (readonly [string, unknown])[],
  set: Readonly<Record<string, string>>,
  budget: number,
): { headers: Table; dropped: string[] } {
  const entries = new Map<string, unknown>();
  for (const [key, value] of kept) entries.set(truncateUtf8(key, maxKeyBytes), encodableValue(value));
  for (const key of Object.keys(set)) entries.delete(key);
  let total = 4;
  for (const [key, value] of entries) total += entrySize(key, value);
  const setEntries = Object.entries(set).map(([key, value]): [string, string] => [key, value]);
  for (const [key, value] of setEntries) total += entrySize(key, value);
  const dropped: string[] = [];
  if (total > budget) {
    const bySize = [...entries].sort((a, b) => entrySize(b[0], b[1]) - entrySize(a[0], a[1]));
    for (const [key, value] of bySize) {
      if (total <= budget) break;
      entries.delete(key);
      dropped.push(key);
      total -= entrySize(key, value);
    }
    setEntries.sort((a, b) => b[1].length - a[1].length);
    for (const entry of setEntries) {
      if (total <= budget) break;
      const before = entrySize(entry[0], entry[1]);
      const room = Math.max(0, Buffer.byteLength(entry[1]) - (total - budget));
      entry[1] = truncateUtf8(entry[1], room);
      total -= before - entrySize(entry[0], entry[1]);
    }
  }
  const headers = emptyTable<unknown>();
  for (const [key, value] of entries) headers[key] = value;
  for (const [key, value] of setEntries) headers[key] = value;
  return { headers, dropped };
}
