/**
 * The Go programs pinned under `tools/`: one Go module per program (`tools/jaeger`, `tools/prometheus`),
 * each with a `tool` directive and its go.sum, since the two programs need different versions of
 * shared dependencies (OpenTelemetry's, Prometheus's client) and one module holds one version of each.
 * Binaries are never committed: they are built once per pinned version into a folder outside the
 * repository and reused from there.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The programs pinned, by binary name; each is the Go module `tools/<name>`. */
export const toolNames = ['jaeger', 'prometheus'] as const;
export type ToolName = (typeof toolNames)[number];

/** The `tools/` folder, holding one Go module per program. */
export const toolsDir = fileURLToPath(new URL('..', import.meta.url));

/**
 * Set to `1` (`.ci/run` does) where the binaries must be there: a test that needs a missing binary
 * then fails instead of being skipped.
 */
export const toolsRequiredVariable = 'SLUICE_TOOLS_REQUIRED';

/**
 * The cache folder of the pinned versions: `$SLUICE_TOOLS_CACHE`, else
 * `${XDG_CACHE_HOME:-$HOME/.cache}/sluice-tools`, plus the first 12 hex digits of the SHA-256 of every
 * module's go.mod and go.sum, so that changing a pin builds into a new folder and never reuses a stale
 * binary.
 */
export function toolsCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const root =
    env.SLUICE_TOOLS_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'sluice-tools');
  const hash = createHash('sha256');
  for (const name of toolNames) {
    for (const file of ['go.mod', 'go.sum']) hash.update(readFileSync(join(toolsDir, name, file)));
  }
  return join(root, hash.digest('hex').slice(0, 12));
}

/** The path of `name`'s binary when it has been built, else undefined. */
export function toolPath(name: ToolName): string | undefined {
  const path = join(toolsCacheDir(), name);
  return existsSync(path) ? path : undefined;
}

/** The one line a test prints (or fails with) when `name` has not been built. */
export function missingToolLine(name: ToolName): string {
  return `${name} is not built (expected at ${join(toolsCacheDir(), name)}): run \`npm run tools:build\` (needs Go, see tools/README.md)`;
}

/**
 * For a test that needs `name`: its path; or, when it is missing, undefined after printing one line
 * saying so (the caller skips), and an Error with that line when `SLUICE_TOOLS_REQUIRED=1` (CI).
 */
export function toolForTest(name: ToolName): string | undefined {
  const path = toolPath(name);
  if (path !== undefined) return path;
  const line = missingToolLine(name);
  if (process.env[toolsRequiredVariable] === '1') throw new Error(line);
  process.stderr.write(`skipped: ${line}\n`);
  return undefined;
}

/** The `go` command: `$GO`, else `go` on PATH, else /usr/local/go/bin/go; undefined when none runs. */
export function goCommand(env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const candidate of [env.GO, 'go', '/usr/local/go/bin/go']) {
    if (candidate === undefined) continue;
    try {
      execFileSync(candidate, ['version'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // not this one
    }
  }
  return undefined;
}

export interface BuildResult {
  /** The cache folder holding every binary. */
  readonly dir: string;
  /** The tools built by this call (empty when every binary was cached already). */
  readonly built: readonly ToolName[];
  /** Wall-clock seconds of each `go build` that ran. */
  readonly seconds: Readonly<Partial<Record<ToolName, number>>>;
}

/**
 * Builds each pinned tool that is not in the cache folder yet, one after the other. A build writes into
 * a temporary folder and the binary is renamed into place at the end, so an interrupted build leaves
 * no half-written binary behind. Resolves when every binary is in place; rejects when Go is missing or
 * a build fails (with go's exit status; its output goes to this process's stderr).
 */
export async function buildTools(): Promise<BuildResult> {
  const dir = toolsCacheDir();
  const missing = toolNames.filter((name) => !existsSync(join(dir, name)));
  const seconds: Partial<Record<ToolName, number>> = {};
  if (missing.length === 0) return { dir, built: [], seconds };
  const go = goCommand();
  if (go === undefined)
    throw new Error('cannot build the tools: no `go` command (set GO, or put Go on PATH)');
  for (const name of missing) {
    const partial = join(dir, `.partial-${name}-${process.pid}`);
    mkdirSync(partial, { recursive: true });
    const started = performance.now();
    try {
      const code = await new Promise<number | null>((resolve, reject) => {
        // `tool` is the meta-package of the module's `tool` directives.
        const child = spawn(go, ['build', '-trimpath', '-o', `${partial}/`, 'tool'], {
          cwd: join(toolsDir, name),
          stdio: ['ignore', 'inherit', 'inherit'],
        });
        child.on('error', reject);
        child.on('close', resolve);
      });
      if (code !== 0) throw new Error(`go build of ${name} failed (exit status ${code})`);
      renameSync(join(partial, name), join(dir, name));
    } finally {
      rmSync(partial, { recursive: true, force: true });
    }
    seconds[name] = (performance.now() - started) / 1000;
  }
  return { dir, built: missing, seconds };
}
