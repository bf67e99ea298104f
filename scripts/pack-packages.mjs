#!/usr/bin/env node
/**
 * Packs every publishable workspace package (packages/*, not private) into the folder given as the
 * first argument (default `packed/`), as `npm publish` would pack it, and prints one tarball path per
 * line. Build first (`npm run build`); `npm run packages:pack` does both.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const destination = resolve(process.argv[2] ?? join(root, 'packed'));
mkdirSync(destination, { recursive: true });

for (const name of readdirSync(join(root, 'packages')).sort()) {
  const dir = join(root, 'packages', name);
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  } catch {
    continue;
  }
  if (manifest.private === true) continue;
  const [packed] = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--silent', '--pack-destination', destination], {
      cwd: dir,
      encoding: 'utf8',
    }),
  );
  console.log(join(destination, packed.filename));
}
