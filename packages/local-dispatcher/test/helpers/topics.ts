// The topic readers moved to testkit (the live-cluster tests use them too).
export { type ReadRecord, readTopic, recordCount } from '@fraud/testkit/topics';
