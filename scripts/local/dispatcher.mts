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
}): Promise<LocalService & { url: string }> {
  const port = options.port ?? Number(process.env.KAFKA_SINK_PORT ?? 8090);
  const proc = startProcess({
    name: 'kafka-sink-bridge',
    command: process.execPath,
    args: ['--import', 'tsx', entry, 'bridge'],
    cwd: repoRoot,
    logDir,
    env: { KAFKA_BOOTSTRAP: options.bootstrap, PORT: String(port), TOPIC: 'decisions' },
  });
  const url = `http://127.0.0.1:${port}/`;
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
}): Promise<LocalService> {
  const proc = startProcess({
    name: 'kafka-source-dispatcher',
    command: process.execPath,
    args: ['--import', 'tsx', entry, 'dispatcher'],
    cwd: repoRoot,
    logDir,
    env: {
      KAFKA_BOOTSTRAP: options.bootstrap,
      SINK_URL: options.sinkUrl,
      TOPICS: 'transactions',
      DEAD_LETTER_TOPIC: 'transactions-dlq',
      GROUP_ID: 'fraud-scorer-local',
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
