/**
 * A small metrics registry rendered in the Prometheus text format (version 0.0.4) for the host's
 * `/metrics`. Hot paths bind label values once (`counter.with({...})`) and then only add numbers.
 */

export type LabelValues = Readonly<Record<string, string>>;

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatLabels(names: readonly string[], values: readonly string[], extra = ''): string {
  const parts = names.map((name, i) => `${name}="${escapeLabel(values[i] ?? '')}"`);
  if (extra !== '') parts.push(extra);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function formatNumber(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

abstract class Metric<Series> {
  protected readonly series = new Map<string, { values: string[]; data: Series }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {}

  protected seriesFor(labels: LabelValues): Series {
    const values = this.labelNames.map((n) => labels[n] ?? '');
    const key = values.join('\u0001');
    let entry = this.series.get(key);
    if (entry === undefined) {
      entry = { values, data: this.create() };
      this.series.set(key, entry);
    }
    return entry.data;
  }

  protected abstract create(): Series;
  protected abstract renderSeries(values: readonly string[], data: Series): string[];
  protected abstract readonly typeName: string;

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.typeName}`];
    for (const { values, data } of this.series.values()) lines.push(...this.renderSeries(values, data));
    return lines.join('\n');
  }
}

interface Cell {
  value: number;
}

/** A value that only goes up. */
export class Counter extends Metric<Cell> {
  protected readonly typeName = 'counter';

  protected create(): Cell {
    return { value: 0 };
  }

  /** A handle for one label set; `inc` on it costs one addition. */
  with(labels: LabelValues): { inc(by?: number): void } {
    const cell = this.seriesFor(labels);
    return {
      inc(by = 1) {
        cell.value += by;
      },
    };
  }

  inc(labels: LabelValues, by = 1): void {
    this.seriesFor(labels).value += by;
  }

  /** Current value for one label set (0 when never incremented). */
  get(labels: LabelValues): number {
    return this.seriesFor(labels).value;
  }

  protected renderSeries(values: readonly string[], data: Cell): string[] {
    return [`${this.name}${formatLabels(this.labelNames, values)} ${formatNumber(data.value)}`];
  }
}

/** A value that goes up and down. */
export class Gauge extends Metric<Cell> {
  protected readonly typeName = 'gauge';

  protected create(): Cell {
    return { value: 0 };
  }

  with(labels: LabelValues): { set(value: number): void; inc(by?: number): void; dec(by?: number): void } {
    const cell = this.seriesFor(labels);
    return {
      set(value) {
        cell.value = value;
      },
      inc(by = 1) {
        cell.value += by;
      },
      dec(by = 1) {
        cell.value -= by;
      },
    };
  }

  set(labels: LabelValues, value: number): void {
    this.seriesFor(labels).value = value;
  }

  get(labels: LabelValues): number {
    return this.seriesFor(labels).value;
  }

  protected renderSeries(values: readonly string[], data: Cell): string[] {
    return [`${this.name}${formatLabels(this.labelNames, values)} ${formatNumber(data.value)}`];
  }
}

interface Buckets {
  counts: number[];
  sum: number;
  count: number;
}

/** Observations counted into cumulative buckets. */
export class Histogram extends Metric<Buckets> {
  protected readonly typeName = 'histogram';

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    readonly buckets: readonly number[],
  ) {
    super(name, help, labelNames);
  }

  protected create(): Buckets {
    return { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
  }

  with(labels: LabelValues): { observe(value: number): void } {
    const data = this.seriesFor(labels);
    const { buckets } = this;
    return {
      observe(value) {
        for (let i = 0; i < buckets.length; i++) {
          if (value <= (buckets[i] as number)) {
            data.counts[i] = (data.counts[i] as number) + 1;
            break;
          }
        }
        data.sum += value;
        data.count += 1;
      },
    };
  }

  /** Observation count for one label set. */
  count(labels: LabelValues): number {
    return this.seriesFor(labels).count;
  }

  protected renderSeries(values: readonly string[], data: Buckets): string[] {
    const lines: string[] = [];
    let cumulative = 0;
    this.buckets.forEach((bound, i) => {
      cumulative += data.counts[i] as number;
      const le = `le="${formatNumber(bound)}"`;
      lines.push(`${this.name}_bucket${formatLabels(this.labelNames, values, le)} ${cumulative}`);
    });
    lines.push(`${this.name}_bucket${formatLabels(this.labelNames, values, 'le="+Inf"')} ${data.count}`);
    lines.push(`${this.name}_sum${formatLabels(this.labelNames, values)} ${formatNumber(data.sum)}`);
    lines.push(`${this.name}_count${formatLabels(this.labelNames, values)} ${data.count}`);
    return lines;
  }
}

/** Metrics of one process, rendered together. Names must be unique. */
export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric<unknown>>();
  private readonly collectors: (() => Promise<void> | void)[] = [];

  private add<M extends { readonly name: string }>(metric: M): M {
    const existing = this.metrics.get(metric.name);
    if (existing !== undefined) {
      if (existing.constructor !== metric.constructor) {
        throw new TypeError(`metric ${metric.name} is already registered with another type`);
      }
      return existing as unknown as M;
    }
    this.metrics.set(metric.name, metric as unknown as Metric<unknown>);
    return metric;
  }

  /** Registers (or returns the already registered) counter. */
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, labelNames));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.add(new Gauge(name, help, labelNames));
  }

  histogram(
    name: string,
    help: string,
    labelNames: readonly string[],
    buckets: readonly number[],
  ): Histogram {
    return this.add(new Histogram(name, help, labelNames, buckets));
  }

  /** Runs before every render, to sample values such as queue depth. A failing collector is skipped. */
  addCollector(collect: () => Promise<void> | void): void {
    this.collectors.push(collect);
  }

  /** The Prometheus text exposition of every metric. */
  async render(): Promise<string> {
    await Promise.allSettled(this.collectors.map(async (collect) => collect()));
    return `${[...this.metrics.values()].map((m) => m.render()).join('\n')}\n`;
  }
}
