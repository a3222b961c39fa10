// Types for kafka-partitioner.mjs (plain JavaScript so that worker threads can load it without tsx).
import type { ICustomPartitioner } from 'kafkajs';
export const memoizedDefaultPartitioner: ICustomPartitioner;
