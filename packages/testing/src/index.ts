export { describeTransportConformance } from './conformance.js';
export type { ConformanceOptions } from './conformance.js';
export { DeliveryCollector } from './delivery-collector.js';
export { ChangeSignal } from './signal.js';
export { TestHarness } from './test-harness.js';
export type { OutcomeQuery } from './test-harness.js';
export { installTestTelemetry, parentSpanId, spanKindName } from './test-telemetry.js';
export type { TestTelemetry } from './test-telemetry.js';
