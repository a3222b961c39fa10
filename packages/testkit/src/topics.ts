// Reads a whole topic (from the beginning) with a throwaway consumer, and counts its records: for assertions.
import type { Kafka, KafkaMessage } from 'kafkajs';

export interface ReadRecord {
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

export async function readTopic(
  kafka: Kafka,
  topic: string,
  until: (records: ReadRecord[]) => boolean,
  timeoutMs = 30_000,
): Promise<ReadRecord[]> {
  const consumer = kafka.consumer({ groupId: `reader-${topic}-${Math.random().toString(36).slice(2)}` });
  const records: ReadRecord[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`read ${records.length} record(s) from ${topic} within ${timeoutMs} ms, wanted more`),
          ),
        timeoutMs,
      );
      const check = () => {
        if (until(records)) {
          clearTimeout(timer);
          resolve();
        }
      };
      check();
      void consumer.run({
        eachMessage: async ({ partition, message }: { partition: number; message: KafkaMessage }) => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(message.headers ?? {}))
            if (v !== undefined) headers[k] = String(v);
          records.push({
            partition,
            offset: message.offset,
            key: message.key?.toString() ?? null,
            value: message.value,
            headers,
          });
          check();
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return records;
}

/** Records on a topic (sum of end offsets): exact, unlike counting what a reader saw. */
export async function recordCount(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high), 0);
  } finally {
    await admin.disconnect();
  }
}
