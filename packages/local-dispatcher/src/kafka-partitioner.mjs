// kafkajs' default (Java-compatible murmur2) partitioner with a memory of the partition of each key: the
// attack's keys are card ids, a bounded set that repeats, and kafkajs hashes each key with 64-bit Long
// objects (about a tenth of the generator's CPU at its top rate). Same partition for every key by
// construction: a miss asks kafkajs' own partitioner; messages without a key or with a partition go to it.
// Plain JavaScript: the producer worker threads use it too.
import { Partitioners } from 'kafkajs';

const MAX_KEYS = 1_000_000;

/** A kafkajs createPartitioner. */
export function memoizedDefaultPartitioner() {
  const stock = Partitioners.DefaultPartitioner();
  const byTopic = new Map();
  return (args) => {
    const { topic, partitionMetadata, message } = args;
    const key = message.key;
    if (typeof key !== 'string' || message.partition != null) return stock(args);
    let memo = byTopic.get(topic);
    // A change in the partition count changes every key's partition.
    if (memo === undefined || memo.partitions !== partitionMetadata.length) {
      memo = { partitions: partitionMetadata.length, byKey: new Map() };
      byTopic.set(topic, memo);
    }
    let partition = memo.byKey.get(key);
    if (partition === undefined) {
      partition = stock(args);
      if (memo.byKey.size < MAX_KEYS) memo.byKey.set(key, partition);
    }
    return partition;
  };
}
