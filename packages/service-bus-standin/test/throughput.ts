import { ServiceBusAdministrationClient, ServiceBusClient } from '@azure/service-bus';
import { startServiceBusStandIn } from '@sluice/service-bus-standin';

/**
 * Informative: how fast the real SDK moves 10,000 1 KiB messages through the stand-in on loopback
 * (batched send, then subscribe() with completion). Bounded: it gives up after two minutes.
 */
const total = Number(process.env.MESSAGES ?? 10_000);
const body = Buffer.alloc(1024, 'x');
const standIn = await startServiceBusStandIn();
const admin = new ServiceBusAdministrationClient(
  standIn.connectionString,
  standIn.administrationClientOptions,
);
const client = new ServiceBusClient(standIn.connectionString);
try {
  await admin.createQueue('throughput');
  const sender = client.createSender('throughput');
  const sendStart = performance.now();
  let batch = await sender.createMessageBatch();
  for (let i = 0; i < total; i += 1) {
    const message = { body, messageId: `m-${i}` };
    if (!batch.tryAddMessage(message)) {
      await sender.sendMessages(batch);
      batch = await sender.createMessageBatch();
      batch.tryAddMessage(message);
    }
  }
  await sender.sendMessages(batch);
  const sendMs = performance.now() - sendStart;
  const receiveStart = performance.now();
  const done = new Set<string>();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`only ${done.size} of ${total} completed in 120 s`)),
      120_000,
    );
    const subscription = client.createReceiver('throughput', { maxAutoLockRenewalDurationInMs: 0 }).subscribe(
      {
        processMessage: async (message) => {
          done.add(String(message.messageId));
          if (done.size === total) {
            clearTimeout(timer);
            void subscription.close().then(resolve, reject);
          }
        },
        processError: async ({ error }) => console.error(error.message),
      },
      { maxConcurrentCalls: 100 },
    );
  });
  const receiveMs = performance.now() - receiveStart;
  const rate = (ms: number) => Math.round((total / ms) * 1000);
  console.log(
    `send (batched):            ${total} x 1 KiB in ${Math.round(sendMs)} ms = ${rate(sendMs)} msg/s`,
  );
  console.log(
    `receive + complete:        ${total} x 1 KiB in ${Math.round(receiveMs)} ms = ${rate(receiveMs)} msg/s`,
  );
  console.log(`send + receive + complete: ${rate(sendMs + receiveMs)} msg/s end to end`);
} finally {
  await client.close();
  await standIn.close();
}
