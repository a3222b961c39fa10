// The local event path as `npm start` runs it, measured end to end on one broker: transactions (48
// partitions) -> the KafkaSource stand-in (ordered: one event in flight per partition) -> the scorer
// (before-reply sink delivery) -> the KafkaSink bridge (its own process) -> decisions (48 partitions).
//  A. capacity: a backlog of N events drained by a fresh ordered dispatcher; decisions/s against the target;
//  B. the README's attack (--target kafka --rate 2000) for a bounded time: its decision rate, the consumer
//     lag at its end, and how long the path takes to catch up after it.
// Per-process CPU (from /proc/<pid>/stat, threads included) is printed per event, so the cost of each hop
// shows; with --profile DIR the main threads of dispatcher, scorer and bridge are CPU-profiled during A.
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KafkaService } from '@fraud/testkit/kafka';
import { type Admin, Kafka, logLevel } from 'kafkajs';
import { bridgeProcess, dispatcherProcess, type Restartable, scorerProcess } from '../test/helpers/path.ts';

export const TARGET_DECISIONS_PER_SECOND = 4000;
const PARTITIONS = 48; // kafka/topics.yaml, as `npm start` creates them

export interface AttackSummary {
  seconds: number;
  acknowledged: number;
  achievedRate: number;
  decisionRate: number | null;
  lagAtEnd: number | null;
}

export interface LocalPathOptions {
  kafka: KafkaService;
  attack: (args: string[]) => Promise<AttackSummary>;
  quick: boolean;
  /** Scorer INFERENCE_MODE values to measure, one after the other. */
  modes: string[];
  /** Where CPU profiles go (phase A), or undefined for none. */
  profileDir?: string;
}

const hook = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cpu-profile-hook.mjs');
const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU seconds (user + system, all threads) of a process so far. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return 0;
  }
}

async function endOffsets(admin: Admin, topic: string): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((sum, p) => sum + Number(p.high), 0);
}

async function lag(admin: Admin, topic: string, group: string): Promise<number> {
  const [ends, committed] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchOffsets({ groupId: group, topics: [topic] }),
  ]);
  const done = new Map(committed[0]?.partitions.map((p) => [p.partition, Number(p.offset)]) ?? []);
  return ends.reduce((sum, p) => {
    const c = done.get(p.partition) ?? -1;
    return sum + Number(p.high) - (c >= 0 ? c : Number(p.low));
  }, 0);
}

export async function runLocalPathBench(options: LocalPathOptions): Promise<void> {
  const { kafka, attack, quick } = options;
  const admin = new Kafka({
    clientId: 'bench-local-path',
    brokers: [kafka.bootstrap],
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'fraud-bench-path-'));
  const profileEnv: Record<string, string> = options.profileDir
    ? { NODE_OPTIONS: `--import ${hook}`, CPU_PROFILE_DIR: options.profileDir }
    : {};
  const backlog = quick ? 10_000 : 30_000;
  const attackSeconds = quick ? 10 : 20;
  await kafka.createTopics([
    { topic: 'lp-decisions', partitions: PARTITIONS },
    { topic: 'lp-dlq', partitions: 6 },
  ]);
  const bridge = await bridgeProcess({
    logDir,
    env: {
      KAFKA_BOOTSTRAP: kafka.bootstrap,
      TOPIC: 'lp-decisions',
      CPU_PROFILE_NAME: 'bridge',
      ...profileEnv,
    },
  });
  console.log(
    `\n3. the local path as npm start runs it: ${PARTITIONS} partitions, ordered dispatcher, scorer with ` +
      `DECISION_SINK_DELIVERY=before-reply, bridge process; target >= ${TARGET_DECISIONS_PER_SECOND} ` +
      `decisions/s (${os.availableParallelism()} cores; logs ${logDir})`,
  );
  let run = 0;
  // The attack's monitor reads the decisions topic and a group's lag: name ones that exist on this broker
  // (without, a backlog run sometimes never exited after sending everything).
  const backlogArgs = [
    '--bootstrap',
    kafka.bootstrap,
    '--rate',
    'max',
    '--decisions-topic',
    'lp-decisions',
    '--group',
    'lp-backlog',
  ];
  try {
    for (const mode of options.modes) {
      const scorer = await scorerProcess({
        logDir,
        sinkUrl: bridge.url,
        env: {
          DECISION_SINK_DELIVERY: 'before-reply',
          INFERENCE_MODE: mode,
          CPU_PROFILE_NAME: `scorer-${mode}`,
          ...profileEnv,
        },
      });
      const dispatcherFor = (topic: string, group: string, initialOffset: string) =>
        dispatcherProcess({
          logDir,
          env: {
            KAFKA_BOOTSTRAP: kafka.bootstrap,
            TOPICS: topic,
            DEAD_LETTER_TOPIC: 'lp-dlq',
            GROUP_ID: group,
            SINK_URL: scorer.url,
            ORDERING: 'ordered',
            INITIAL_OFFSET: initialOffset,
            CPU_PROFILE_NAME: `dispatcher-${mode}`,
            ...profileEnv,
          },
        });
      const processes = (d: Restartable) => ({
        dispatcher: d.current.child.pid,
        scorer: scorer.current.child.pid,
        bridge: bridge.current.child.pid,
        broker: kafka.process.child.pid,
      });

      // Warm-up, not counted: the broker's JVM and a fresh scorer are cold on their first events.
      const warmTopic = `lp-warm-${run}`;
      await kafka.createTopics([{ topic: warmTopic, partitions: PARTITIONS }]);
      await attack([...backlogArgs, '--topic', warmTopic, '--count', '3000']);
      const warmFrom = await endOffsets(admin, 'lp-decisions');
      const warm = await dispatcherFor(warmTopic, `lp-warm-${run}`, 'earliest');
      const warmUntil = performance.now() + 60_000;
      while ((await endOffsets(admin, 'lp-decisions')) - warmFrom < 3000 && performance.now() < warmUntil)
        await sleep(200);
      await warm.stop();

      // A. Drain a backlog: produced first, then a fresh group reads it from the earliest offset.
      const drainTopic = `lp-drain-${++run}`;
      await kafka.createTopics([{ topic: drainTopic, partitions: PARTITIONS }]);
      await attack([...backlogArgs, '--topic', drainTopic, '--count', String(backlog)]);
      const before = await endOffsets(admin, 'lp-decisions');
      const dispatcher = await dispatcherFor(drainTopic, `lp-drain-${run}`, 'earliest');
      const pids = processes(dispatcher);
      let first: { t: number; n: number; cpu: Record<string, number> } | undefined;
      let last = { t: performance.now(), n: 0 };
      // The steady part, 20 % to 95 % of the backlog: without the start (cold JIT in a new dispatcher) and
      // the tail (the last, fullest partitions).
      let from20: { t: number; n: number } | undefined;
      let to95: { t: number; n: number } | undefined;
      const deadline = performance.now() + 180_000;
      while (last.n < backlog && performance.now() < deadline) {
        await sleep(100);
        const n = (await endOffsets(admin, 'lp-decisions')) - before;
        last = { t: performance.now(), n };
        if (!from20 && n >= 0.2 * backlog) from20 = last;
        if (!to95 && n >= 0.95 * backlog) to95 = last;
        if (!first && n > 0) {
          first = {
            t: last.t,
            n,
            cpu: Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)])),
          };
          if (options.profileDir)
            for (const pid of [pids.dispatcher, pids.scorer, pids.bridge])
              if (pid) process.kill(pid, 'SIGUSR2');
        }
      }
      if (options.profileDir)
        for (const pid of [pids.dispatcher, pids.scorer, pids.bridge]) if (pid) process.kill(pid, 'SIGUSR2');
      const secs = first ? (last.t - first.t) / 1000 : Number.NaN;
      const rate = first ? (last.n - first.n) / secs : 0;
      const events = first ? last.n - first.n : 0;
      const cpu = Object.entries(pids)
        .map(([k, pid]) => {
          const used = cpuSeconds(pid) - (first?.cpu[k] ?? 0);
          return `${k} ${((used * 1e6) / Math.max(events, 1)).toFixed(0)}`;
        })
        .join(', ');
      const steady = from20 && to95 ? (to95.n - from20.n) / ((to95.t - from20.t) / 1000) : Number.NaN;
      console.log(
        `   INFERENCE_MODE=${mode.padEnd(7)} A. drain of ${backlog}: ${last.n} decisions, ${rate.toFixed(0)}/s over ` +
          `${secs.toFixed(1)} s, steady (20-95 %) ${steady.toFixed(0)}/s -> ` +
          `${steady >= TARGET_DECISIONS_PER_SECOND ? 'target met' : 'TARGET MISSED'} ` +
          `(load ${load()}); CPU µs per event: ${cpu}`,
      );
      await dispatcher.stop();

      // B. The README's attack against a dispatcher that is already running (latest offset, as npm start).
      const liveTopic = `lp-live-${run}`;
      const group = `lp-live-${run}`;
      await kafka.createTopics([{ topic: liveTopic, partitions: PARTITIONS }]);
      const live = await dispatcherFor(liveTopic, group, 'latest');
      const s = await attack([
        '--bootstrap',
        kafka.bootstrap,
        '--target',
        'kafka',
        '--rate',
        '2000',
        '--duration',
        String(attackSeconds),
        '--topic',
        liveTopic,
        '--decisions-topic',
        'lp-decisions',
        '--group',
        group,
      ]);
      const ended = performance.now();
      let remaining = await lag(admin, liveTopic, group);
      while (remaining > 0 && performance.now() - ended < 60_000) {
        await sleep(200);
        remaining = await lag(admin, liveTopic, group);
      }
      const catchUp = (performance.now() - ended) / 1000;
      console.log(
        `   INFERENCE_MODE=${mode.padEnd(7)} B. attack --rate 2000 for ${attackSeconds} s: sent ${s.achievedRate}/s, ` +
          `decisions ${s.decisionRate}/s over the run, consumer lag at its end ${s.lagAtEnd}, ` +
          `${remaining === 0 ? `caught up ${catchUp.toFixed(1)} s after it` : `still ${remaining} behind after 60 s`} (load ${load()})`,
      );
      await live.stop();
      await scorer.stop();
    }
  } finally {
    await bridge.stop();
    await admin.disconnect();
  }
}
