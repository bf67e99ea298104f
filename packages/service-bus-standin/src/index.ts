export { startServiceBusStandIn } from './stand-in.js';
export type { AccessToken, StandInTokenCredential } from './access-token.js';
export type { FaultOperation, InjectedFailure } from './faults.js';
export type { ServiceBusStandIn, ServiceBusStandInFaults, ServiceBusStandInOptions } from './types.js';
