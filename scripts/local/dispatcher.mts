// The local stand-ins for Knative Eventing (`npm start` composes them), each a child process of
// packages/local-dispatcher:
//   startKafkaSinkBridge  the KafkaSink: POST CloudEvent -> `decisions` (port KAFKA_SINK_PORT, default 8090);
//                         start it first and give its URL to the scorer as DECISION_SINK_URL.
//   startDispatcher       the KafkaSource: `transactions` -> POST to the scorer, retries, `transactions-dlq`.
import path from 'node:path';
import { type ManagedProcess, startProcess, waitUntil } from '@fraud/testkit/process';
import { repoRoot } from '../lib/repo.mts';

const entry = path.join(repoRoot, 'packages', 'local-dispatcher', 'src', 'main.ts');
const logDir = path.join(repoRoot, '.cache', 'logs');

export interface LocalService {
  url?: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

export async function startKafkaSinkBridge(options: {
  bootstrap: string;
  port?: number;
  /** The address to listen on (default loopback; the live cluster's pods reach it on the node's bridge). */
  host?: string;
  logDir?: string;
}): Promise<LocalService & { url: string }> {
  const port = options.port ?? Number(process.env.KAFKA_SINK_PORT ?? 8090);
  const host = options.host ?? '127.0.0.1';
  const proc = startProcess({
    name: 'kafka-sink-bridge',
    command: process.execPath,
    args: ['--import', 'tsx', entry, 'bridge'],
    cwd: repoRoot,
    logDir: options.logDir ?? logDir,
    env: { KAFKA_BOOTSTRAP: options.bootstrap, PORT: String(port), HOST: host, TOPIC: 'decisions' },
  });
  const url = `http://${host}:${port}/`;
  await waitUntil(
    proc,
    `the KafkaSink bridge on ${url}`,
    async () => (await fetch(`${url}health`)).ok,
    30_000,
  );
  return { url, process: proc, stop: () => proc.stop() };
}

export async function startDispatcher(options: {
  bootstrap: string;
  sinkUrl: string;
  ordering?: 'ordered' | 'unordered';
  /** Another KafkaSource (the archive's): its topics, consumer group, dead-letter topic and process name. */
  topics?: string[];
  group?: string;
  deadLetterTopic?: string;
  name?: string;
  /** Where a new consumer group starts (the KafkaSource's initialOffset; default latest). */
  initialOffset?: 'earliest' | 'latest';
  logDir?: string;
}): Promise<LocalService> {
  const proc = startProcess({
    name: options.name ?? 'kafka-source-dispatcher',
    command: process.execPath,
    args: ['--import', 'tsx', entry, 'dispatcher'],
    cwd: repoRoot,
    logDir: options.logDir ?? logDir,
    env: {
      ...(options.initialOffset ? { INITIAL_OFFSET: options.initialOffset } : {}),
      KAFKA_BOOTSTRAP: options.bootstrap,
      SINK_URL: options.sinkUrl,
      TOPICS: (options.topics ?? ['transactions']).join(','),
      DEAD_LETTER_TOPIC: options.deadLetterTopic ?? 'transactions-dlq',
      GROUP_ID: options.group ?? 'fraud-scorer-local',
      ORDERING: options.ordering ?? process.env.DISPATCH_ORDERING ?? 'ordered',
    },
  });
  await waitUntil(
    proc,
    'the dispatcher to join its consumer group',
    async () => proc.tail(20).includes('dispatching '),
    60_000,
  );
  return { process: proc, stop: () => proc.stop() };
}
