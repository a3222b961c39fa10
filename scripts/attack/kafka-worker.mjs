// A worker thread owning one kafkajs producer: kafkajs encodes records on the JS thread that sends them, so
// `--producers N` spreads that work over N threads while the main thread paces, generates and encodes events.
// Plain JavaScript: worker threads do not inherit the tsx loader on Node 20.
import { parentPort, workerData } from 'node:worker_threads';
import { memoizedDefaultPartitioner } from '@fraud/local-dispatcher/kafka-partitioner.mjs';
import { useRecordEncoder } from '@fraud/local-dispatcher/kafka-record.mjs';
import { Kafka, logLevel, Partitioners } from 'kafkajs';

const { bootstrap, topic } = workerData;
// Before the first send: kafkajs loads its record encoder then.
const recordEncoder = useRecordEncoder(workerData.encoder ?? 'fast');
const producer = new Kafka({
  clientId: 'attack-generator',
  brokers: [bootstrap],
  logLevel: logLevel.NOTHING,
}).producer({
  allowAutoTopicCreation: false,
  maxInFlightRequests: 64,
  createPartitioner:
    recordEncoder.encoder === 'fast' ? memoizedDefaultPartitioner : Partitioners.DefaultPartitioner,
});
try {
  await producer.connect();
  await producer.send({ topic, messages: [] });
  parentPort.postMessage({ ready: true, recordEncoder });
} catch (err) {
  parentPort.postMessage({ ready: false, error: err.message, recordEncoder });
}
parentPort.on('message', (msg) => {
  if (msg.close) {
    void producer.disconnect().finally(() => parentPort.close());
    return;
  }
  producer
    .send({ topic, acks: -1, messages: msg.messages })
    .then(() => parentPort.postMessage({ id: msg.id, ok: true }))
    .catch((err) => parentPort.postMessage({ id: msg.id, ok: false, error: err.message }));
});
