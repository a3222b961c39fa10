// The local platform's Kafka (`npm start` composes it): one KRaft broker on the fixed ports of docs/DESIGN.md
// (9092, controller 9093; KAFKA_PORT / KAFKA_CONTROLLER_PORT override), data kept in .cache/local-kafka so
// a restart keeps the topics, and the platform's topics created with the partition counts of
// kafka/topics.yaml (the cluster's single source of truth).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type KafkaService, startKafka, type TopicSpec } from '@fraud/testkit/kafka';
import YAML from 'yaml';
import { repoRoot } from '../lib/repo.mts';

/** The topics and partition counts declared for the cluster in kafka/topics.yaml. */
export function platformTopics(file = path.join(repoRoot, 'kafka', 'topics.yaml')): TopicSpec[] {
  const docs = YAML.parseAllDocuments(readFileSync(file, 'utf8')).map(
    (d) => d.toJS() as Record<string, unknown>,
  );
  const topics = docs
    .filter((d) => d?.kind === 'KafkaTopic')
    .map((d) => ({
      topic: String((d.metadata as { name: string }).name),
      partitions: Number((d.spec as { partitions?: number } | undefined)?.partitions ?? 6),
    }));
  if (topics.length === 0) throw new Error(`${file} declares no KafkaTopic`);
  return topics;
}

export async function startLocalKafka(): Promise<KafkaService> {
  return startKafka({
    port: Number(process.env.KAFKA_PORT ?? 9092),
    controllerPort: Number(process.env.KAFKA_CONTROLLER_PORT ?? 9093),
    dataDir: path.join(repoRoot, '.cache', 'local-kafka'),
    topics: platformTopics(),
  });
}
