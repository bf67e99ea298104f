import { execFileSync } from 'node:child_process';

// Integration tests start real processes that import the built packages (as users' services do), so
// the build must be current. `tsc -b` is incremental: a no-op when nothing changed.
export default function buildOnce(): void {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-b'], { stdio: 'inherit' });
}
