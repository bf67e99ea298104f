/** The consumer host alone (scale it out: competing consumers share the queues). */
import { transportFromEnv } from './setup.js';
import { createWorkerHost } from './worker-host.js';

await createWorkerHost(transportFromEnv()).start();
