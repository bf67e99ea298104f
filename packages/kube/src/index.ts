export { helmBinary, readZipEntry, runHelm } from './helm.js';
export type { HelmResult } from './helm.js';
