/**
 * The packages as a user gets them: packed as `npm publish` packs them, checked for what a package
 * must and must not hold, installed from the tarballs into a fresh project outside the repository
 * (the starter, with the tsconfig its README gives), built with that project's own TypeScript and run
 * on RabbitMQ.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { chartDirOf, runHelm } from '@sluice/kube';
import { freePort, startWatchedProcess } from '@sluice/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestVhost } from '../packages/rabbitmq/test/support/broker.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));

interface Packed {
  readonly tarball: string;
  readonly files: readonly string[];
  readonly manifest: Record<string, unknown> & { name: string };
  readonly extracted: string;
}

let work: string;
let packed: Packed[];
let vhost: TestVhost;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'sluice-pack-'));
  vhost = await TestVhost.create('sluice-pack-install');
  const { stdout } = await run(process.execPath, ['scripts/pack-packages.mjs', join(work, 'tarballs')], {
    cwd: root,
    timeout: 120_000,
  });
  packed = await Promise.all(
    stdout
      .trim()
      .split('\n')
      .map(async (tarball) => {
        const extracted = join(work, 'extracted', tarball.split('/').at(-1) ?? 'package');
        await run('mkdir', ['-p', extracted]);
        await run('tar', ['-xzf', tarball, '-C', extracted]);
        const listing = (await run('tar', ['-tzf', tarball])).stdout;
        const files = listing
          .trim()
          .split('\n')
          .map((f) => f.replace(/^package\//, ''));
        const manifest = JSON.parse(
          await readFile(join(extracted, 'package', 'package.json'), 'utf8'),
        ) as Packed['manifest'];
        return { tarball, files, manifest, extracted: join(extracted, 'package') };
      }),
  );
}, 180_000);

afterAll(async () => {
  await vhost?.delete();
  await rm(work, { recursive: true, force: true });
});

describe('the published packages', () => {
  it('packs every public package', () => {
    expect(packed.map((p) => p.manifest.name)).toEqual(
      expect.arrayContaining([
        '@sluice/core',
        '@sluice/rabbitmq',
        '@sluice/otel',
        '@sluice/testing',
        '@sluice/postgres',
        '@sluice/redis',
      ]),
    );
  });

  it('hold a licence, a README, typed entry points and their sources, and no tests or build state', () => {
    for (const { manifest, files } of packed) {
      const name = manifest.name;
      const entry = (manifest.exports as Record<string, { types?: string; default?: string }>)['.'];
      const typedEntry = [entry?.default, entry?.types].map((f) => f?.replace(/^\.\//, ''));
      for (const required of ['LICENSE', 'README.md', 'package.json', ...typedEntry]) {
        expect(files, `${name} holds ${required}`).toContain(required);
      }
      expect(
        files.filter((f) => /(^|\/)(test|tests|__tests__)\/|\.test\.|\.tsbuildinfo$/.test(f)),
        `${name} ships no tests`,
      ).toEqual([]);
      expect(manifest.license, name).toBe('MIT');
      expect((manifest.engines as Record<string, string>).node, name).toBe('>=22.12');
      expect(entry?.types, `${name} exports its types`).toMatch(/^\.\/dist\/.*\.d\.ts$/);
      // One copy of core in an application: the other packages take it as a peer.
      if (name !== '@sluice/core') {
        expect((manifest.peerDependencies as Record<string, string>)['@sluice/core'], name).toBeDefined();
        expect(
          (manifest.dependencies as Record<string, string> | undefined)?.['@sluice/core'],
          name,
        ).toBeUndefined();
      }
    }
  });

  it('ship source maps whose sources are in the package, and no compiled file without its source', async () => {
    for (const { manifest, files, extracted } of packed) {
      for (const map of files.filter((f) => f.endsWith('.map'))) {
        const { sources } = JSON.parse(await readFile(join(extracted, map), 'utf8')) as { sources: string[] };
        for (const source of sources) {
          expect(files, `${manifest.name}: ${map} points at ${source}`).toContain(
            normalize(join(dirname(map), source)),
          );
        }
      }
      for (const js of files.filter((f) => f.startsWith('dist/') && f.endsWith('.js'))) {
        const source = js.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts');
        expect(
          files,
          `${manifest.name}: ${js} has no source: stale build output of a removed file (npm run build:clean)`,
        ).toContain(source);
      }
    }
  });
  it('@sluice/kube holds the chart that sluice manifests renders by default, as the repository has it', async () => {
    const kube = packed.find((p) => p.manifest.name === '@sluice/kube');
    expect(kube?.files).toEqual(
      expect.arrayContaining([
        'chart/Chart.yaml',
        'chart/values.schema.json',
        'chart/templates/scaledobject.yaml',
      ]),
    );
    const extracted = kube?.extracted ?? '';
    expect(chartDirOf(pathToFileURL(join(extracted, 'dist', 'manifests.js')))).toBe(
      join(extracted, 'chart/'),
    );
    const fromPackage = await runHelm(['template', 'shop', join(extracted, 'chart')]);
    const fromRepository = await runHelm(['template', 'shop', join(root, 'charts', 'sluice-consumer')]);
    expect(fromPackage.ok).toBe(true);
    expect(fromPackage.stdout).toBe(fromRepository.stdout);
  });
});

describe('a service installed from the tarballs, outside the repository', () => {
  it('builds the starter with its own tsconfig and TypeScript and runs it on RabbitMQ', async () => {
    const project = join(work, 'my-service');
    const starter = join(root, 'examples', 'starter');
    await cp(join(starter, 'src'), join(project, 'src'), { recursive: true });
    await cp(join(starter, 'tsconfig.json'), join(project, 'tsconfig.json'));
    const manifest = JSON.parse(await readFile(join(starter, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    for (const { manifest: packedManifest, tarball } of packed) {
      if (packedManifest.name in manifest.dependencies)
        manifest.dependencies[packedManifest.name] = `file:${tarball}`;
    }
    await writeFile(join(project, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd: project,
      timeout: 240_000,
    });
    await run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.'], {
      cwd: project,
      timeout: 120_000,
    });

    const port = await freePort();
    const service = startWatchedProcess(process.execPath, ['dist/main.js'], {
      cwd: project,
      env: {
        ...process.env,
        AMQP_URL: vhost.url,
        PORT: String(port),
        METRICS_PORT: String(await freePort()),
      },
    });
    try {
      await service.waitFor('API listening', 30_000, 'the API');
      const response = await fetch(`http://127.0.0.1:${port}/signups`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'ada@example.com' }),
      });
      expect(response.status).toBe(202);
      await service.waitFor('welcome email sent', 30_000, 'the consumer');
      expect(service.lines.join('\n')).toContain('transport=rabbitmq');
      service.child.kill('SIGTERM');
      expect(await service.exited).toBe(0);
    } finally {
      service.kill();
    }
  }, 420_000);
});
