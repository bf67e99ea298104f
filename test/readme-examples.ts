import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const generated = fileURLToPath(new URL('./.readme/', import.meta.url));

/**
 * The ```ts blocks of a README, each written to a module under test/.readme/ (inside the repository, so
 * packages resolve as they do for users). Returns [label, module path] pairs to import in a test.
 */
export function readmeExamples(readme: string): [string, string][] {
  const text = readFileSync(`${root}/${readme}`, 'utf8');
  const blocks = [...text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1] as string);
  mkdirSync(generated, { recursive: true });
  return blocks.map((code, i) => {
    const file = `${generated}${readme.replace(/[/.]/g, '_')}-${i + 1}.ts`;
    writeFileSync(file, code);
    return [`${readme} block ${i + 1}`, file];
  });
}
