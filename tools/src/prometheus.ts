/**
 * The real Prometheus on a free loopback port, scraping given targets every second, its TSDB in a
 * temporary folder; queried through its HTTP API.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '@sluice/testing';
import { ToolProcess } from './tool-process.js';

/** One sample of an instant query's result. */
export interface PromSample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface PrometheusOptions {
  /** `host:port` of each `/metrics` endpoint to scrape (job `sluice`). */
  readonly targets: readonly string[];
  /** Labels added to every scraped series (for example `namespace`, as a Kubernetes scrape would). */
  readonly labels?: Readonly<Record<string, string>>;
  /** Scrape and evaluation interval. Default 1 s. */
  readonly intervalSeconds?: number;
}

export interface Prometheus {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Runs an instant PromQL query; rejects with Prometheus's error for a bad query. */
  query(promql: string): Promise<PromSample[]>;
  /** Stops Prometheus and removes its folder; resolves when it has exited. */
  stop(): Promise<void>;
}

interface QueryResponse {
  status: 'success' | 'error';
  error?: string;
  data?: {
    resultType: string;
    result: { metric: Record<string, string>; value: [number, string] }[] | [number, string];
  };
}

/**
 * Starts `binary` (from `toolPath('prometheus')`). Resolves once it is ready to serve queries; rejects
 * with its output when it exits or does not answer within 60 s.
 */
export async function startPrometheus(binary: string, options: PrometheusOptions): Promise<Prometheus> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const interval = `${options.intervalSeconds ?? 1}s`;
  const tool = ToolProcess.start('prometheus', binary, (dir) => {
    const config = {
      global: { scrape_interval: interval, evaluation_interval: interval },
      scrape_configs: [
        {
          job_name: 'sluice',
          metrics_path: '/metrics',
          static_configs: [{ targets: options.targets, labels: options.labels ?? {} }],
        },
      ],
    };
    writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config, null, 2));
    return [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ];
  });
  try {
    await tool.ready(async (signal) => (await fetch(`${url}/-/ready`, { signal })).ok);
  } catch (error) {
    await tool.stop();
    throw error;
  }
  return {
    url,
    async query(promql) {
      const response = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: promql })}`);
      const body = (await response.json()) as QueryResponse;
      if (body.status !== 'success' || body.data === undefined) {
        throw new Error(
          `prometheus query ${JSON.stringify(promql)} failed: ${body.error ?? response.status}`,
        );
      }
      const { resultType, result } = body.data;
      if (resultType === 'scalar') return [{ labels: {}, value: Number((result as [number, string])[1]) }];
      return (result as { metric: Record<string, string>; value: [number, string] }[]).map((sample) => ({
        labels: sample.metric,
        value: Number(sample.value[1]),
      }));
    },
    stop: () => tool.stop(),
  };
}
