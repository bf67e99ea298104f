export { RedisIdempotencyStore } from './redis-idempotency-store.js';
export type { RedisIdempotencyStoreOptions } from './redis-idempotency-store.js';
