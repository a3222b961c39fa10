// A local stand-in for the Kafka Exporter that Strimzi runs beside the cluster (danielqsj/kafka_exporter):
// the same two series our rules and dashboards read, computed from the broker with a kafkajs admin
// client on every scrape. For the drill and tests only; on a cluster the real exporter serves these.
//   kafka_topic_partition_current_offset{topic,partition}     the partition's high watermark
//   kafka_consumergroup_lag{consumergroup,topic,partition}     high watermark minus the group's committed
//                                                              offset (minus the low watermark if none)
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Admin, Kafka, logLevel } from 'kafkajs';

export interface KafkaExporter {
  url: string;
  address: string;
  stop(): Promise<void>;
}

export async function renderKafkaMetrics(admin: Admin): Promise<string> {
  const topics = (await admin.listTopics()).filter((t) => !t.startsWith('__')).sort();
  const groups = (await admin.listGroups()).groups.map((g) => g.groupId).sort();
  const watermarks = new Map<string, Map<number, { high: number; low: number }>>();
  const lines = [
    '# HELP kafka_topic_partition_current_offset Current Offset of a Broker at Topic/Partition',
    '# TYPE kafka_topic_partition_current_offset gauge',
  ];
  for (const topic of topics) {
    const byPartition = new Map<number, { high: number; low: number }>();
    for (const p of await admin.fetchTopicOffsets(topic)) {
      byPartition.set(p.partition, { high: Number(p.high), low: Number(p.low) });
      lines.push(
        `kafka_topic_partition_current_offset{topic="${topic}",partition="${p.partition}"} ${p.high}`,
      );
    }
    watermarks.set(topic, byPartition);
  }
  lines.push(
    '# HELP kafka_consumergroup_lag Current Approximate Lag of a ConsumerGroup at Topic/Partition',
    '# TYPE kafka_consumergroup_lag gauge',
  );
  for (const groupId of groups) {
    for (const t of await admin.fetchOffsets({ groupId, topics })) {
      // Like kafka_exporter: only topics the group has committed something on.
      if (t.partitions.every((p) => Number(p.offset) < 0)) continue;
      for (const p of t.partitions) {
        const w = watermarks.get(t.topic)?.get(p.partition);
        if (!w) continue;
        const committed = Number(p.offset);
        // A group with nothing committed on a partition still has to read everything retained there.
        const lag = committed >= 0 ? Math.max(0, w.high - committed) : w.high - w.low;
        lines.push(
          `kafka_consumergroup_lag{consumergroup="${groupId}",topic="${t.topic}",partition="${p.partition}"} ${lag}`,
        );
      }
    }
  }
  return `${lines.join('\n')}\n`;
}

export async function startKafkaExporter(bootstrap: string): Promise<KafkaExporter> {
  const admin = new Kafka({
    clientId: 'fraud-kafka-exporter',
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  const server = http.createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only /metrics here\n');
      return;
    }
    renderKafkaMetrics(admin).then(
      (body) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(body),
      (error: Error) =>
        res.writeHead(503, { 'content-type': 'text/plain' }).end(`kafka unavailable: ${error.message}\n`),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    address: `127.0.0.1:${port}`,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await admin.disconnect();
    },
  };
}
