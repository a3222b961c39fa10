// A real single-node Kafka broker (KRaft, static quorum) for tests and benchmarks: free loopback ports,
// data in a temp dir, storage formatted in its own JVM, ready when a kafkajs admin can list topics.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Admin, Kafka, logLevel } from 'kafkajs';
import { ensureKafka, type KafkaInstall } from './install/kafka.ts';
import { freePort } from './ports.ts';
import { type ManagedProcess, startProcess, waitUntil } from './process.ts';

export interface TopicSpec {
  topic: string;
  partitions?: number;
}

export interface StartKafkaOptions {
  /** Default partition count for topics created without one (and num.partitions). Default 6. */
  partitions?: number;
  /** Topics to create, with leaders elected, before startKafka resolves. */
  topics?: (string | TopicSpec)[];
  /** Fixed ports (the local platform); tests leave these unset and get free ones. */
  port?: number;
  controllerPort?: number;
  /** Where data and logs go; default a fresh temp dir, removed by stop(). */
  dataDir?: string;
  /** Readiness timeout. Default 60 s (a cold JVM on a busy 2-core machine). */
  startTimeoutMs?: number;
}

export interface KafkaService {
  /** host:port for clients. */
  readonly bootstrap: string;
  readonly port: number;
  readonly dataDir: string;
  readonly install: KafkaInstall;
  /** Milliseconds from spawn to ready, of the last (re)start. */
  readonly startupMs: number;
  /** The broker process of the current run (its log file names failures). */
  readonly process: ManagedProcess;
  createTopics(topics: (string | TopicSpec)[]): Promise<void>;
  /** A kafkajs client for this broker (logging off, explicit partitioner). */
  client(clientId?: string): Kafka;
  /** Graceful stop; removes a temp data dir it created. */
  stop(): Promise<void>;
  /** SIGKILL (data kept, so restart() can bring it back). */
  kill(): Promise<void>;
  /** Stops (gracefully, if still running) and starts again on the same ports and data. */
  restart(): Promise<void>;
}

function serverProperties(port: number, controllerPort: number, logDirs: string, partitions: number): string {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    `log.dirs=${logDirs}`,
    `num.partitions=${partitions}`,
    // Topics are created up front, as on the cluster; auto-creation would hide a missing createTopics.
    'auto.create.topics.enable=false',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=6',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    '',
  ].join('\n');
}

function runToEnd(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    child.once('error', (err) =>
      reject(new Error(`could not run ${command} (is Java 17+ installed?): ${err.message}`)),
    );
    child.once('close', (code) => resolve({ code, output }));
  });
}

export function kafkaClient(bootstrap: string, clientId = 'fraud-testkit'): Kafka {
  return new Kafka({
    clientId,
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { retries: 3, initialRetryTime: 100 },
  });
}

export async function createTopics(admin: Admin, topics: (string | TopicSpec)[], defaultPartitions: number) {
  const existing = new Set(await admin.listTopics());
  const wanted = topics
    .map((t) => (typeof t === 'string' ? { topic: t } : t))
    .filter((t) => !existing.has(t.topic))
    .map((t) => ({ topic: t.topic, numPartitions: t.partitions ?? defaultPartitions, replicationFactor: 1 }));
  if (wanted.length === 0) return;
  // On a busy machine the leader wait can see UNKNOWN_TOPIC_OR_PARTITION before metadata settles: retry.
  for (let attempt = 1; ; attempt++) {
    try {
      await admin.createTopics({ topics: wanted, waitForLeaders: true });
      return;
    } catch (err) {
      const retriable =
        (err as { retriable?: boolean }).retriable === true || /TOPIC_ALREADY_EXISTS/.test(String(err));
      if (!retriable || attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 500 * attempt));
      const now = new Set(await admin.listTopics());
      const missing = wanted.filter((t) => !now.has(t.topic));
      if (missing.length === 0) return;
      wanted.splice(0, wanted.length, ...missing);
    }
  }
}

/** Starts a broker and resolves once it serves metadata (and the requested topics exist). */
export async function startKafka(options: StartKafkaOptions = {}): Promise<KafkaService> {
  const install = await ensureKafka();
  const partitions = options.partitions ?? 6;
  const port = options.port ?? (await freePort());
  const controllerPort = options.controllerPort ?? (await freePort());
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'fraud-kafka-'));
  mkdirSync(dataDir, { recursive: true });
  const logDirs = path.join(dataDir, 'data');
  const propsFile = path.join(dataDir, 'server.properties');
  writeFileSync(propsFile, serverProperties(port, controllerPort, logDirs, partitions));
  const bootstrap = `127.0.0.1:${port}`;
  const jvm = [
    '-Xms256m',
    '-Xmx512m',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${install.log4jConfig}`,
  ];

  // StorageTool calls System.exit, so it gets its own JVM.
  const clusterId = newClusterId();
  // A kept data dir (the local platform's) is formatted already, with its own cluster id.
  const format = existsSync(path.join(logDirs, 'meta.properties'))
    ? { code: 0, output: '' }
    : await runToEnd('java', [
        ...jvm,
        '-cp',
        install.classpath,
        'kafka.tools.StorageTool',
        'format',
        '-t',
        clusterId,
        '-c',
        propsFile,
        '--ignore-formatted',
      ]);
  if (format.code !== 0) {
    throw new Error(`Kafka StorageTool format failed (exit ${format.code}):\n${format.output.slice(-3000)}`);
  }

  let broker: ManagedProcess;
  let startupMs = 0;
  const launch = async () => {
    const started = Date.now();
    broker = startProcess({
      name: `kafka-${port}`,
      command: 'java',
      args: [...jvm, '-cp', install.classpath, 'kafka.Kafka', propsFile],
      logDir: dataDir,
    });
    const probe = kafkaClient(bootstrap, 'fraud-testkit-probe').admin();
    // Kafka can linger in shutdown after a fatal startup error (a port taken) while the probe waits on a
    // connection: watch the log separately and end the broker so the error shows at once.
    const fatalWatch = setInterval(() => {
      if (
        /Fatal error during (broker|controller) startup|Exiting Kafka due to fatal/.test(broker.tail(600))
      ) {
        void broker.kill();
      }
    }, 500);
    try {
      await waitUntil(
        broker,
        `Kafka broker on ${bootstrap} to list topics`,
        async () => {
          // Kafka can hang in shutdown after a fatal startup error (a port taken): end it so the error shows now.
          if (
            /Exiting Kafka due to fatal exception|Fatal error during (broker|controller) startup/.test(
              broker.tail(400),
            )
          ) {
            void broker.kill();
            return false;
          }
          await probe.connect();
          await probe.listTopics();
          return true;
        },
        options.startTimeoutMs ?? 60_000,
        250,
      );
    } catch (err) {
      await broker.kill();
      // The end of a failed broker's log is shutdown noise; its ERROR and Caused-by lines say why.
      const reasons = broker
        .tail(5000)
        .split('\n')
        .filter((line) => /\bERROR\b|^Caused by:/.test(line))
        .slice(0, 12);
      if (reasons.length === 0) throw err;
      throw new Error(
        `Kafka broker on ${bootstrap} failed to start (${(err as Error).message.split('\n')[0]})\nerrors in ${broker.logFile}:\n${reasons.join('\n')}`,
      );
    } finally {
      clearInterval(fatalWatch);
      await probe.disconnect().catch(() => {});
    }
    startupMs = Date.now() - started;
  };
  await launch();

  const service: KafkaService = {
    bootstrap,
    port,
    dataDir,
    install,
    get startupMs() {
      return startupMs;
    },
    get process() {
      return broker;
    },
    async createTopics(topics) {
      const admin = kafkaClient(bootstrap, 'fraud-testkit-admin').admin();
      await admin.connect();
      try {
        await createTopics(admin, topics, partitions);
      } finally {
        await admin.disconnect();
      }
    },
    client: (clientId) => kafkaClient(bootstrap, clientId),
    async stop() {
      await broker.stop(15_000);
      if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
    async kill() {
      await broker.kill();
    },
    async restart() {
      await broker.stop(15_000);
      await launch();
    },
  };
  try {
    if (options.topics?.length) await service.createTopics(options.topics);
  } catch (err) {
    await service.stop();
    throw new Error(`Kafka started but creating topics failed: ${(err as Error).message}\n${broker!.tail()}`);
  }
  return service;
}

/**
 * A cluster id is 16 random bytes, base64url. One in 64 of those starts with '-', which the storage tool's
 * argument parser reads as an option ("--cluster-id: expected one argument"); Kafka's own Uuid.randomUuid()
 * draws again in that case, and so do we.
 */
export function newClusterId(random: () => Buffer = () => randomBytes(16)): string {
  for (;;) {
    const id = random().toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}
