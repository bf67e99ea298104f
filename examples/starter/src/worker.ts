/** The consumer host alone (scale it out: competing consumers share the queues). */
import { startOrExit, transportFromEnv } from './setup.js';
import { createWorkerHost } from './worker-host.js';

await startOrExit('starter worker', () => createWorkerHost(transportFromEnv()).start());
