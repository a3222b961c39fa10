// Faults on the real node, against the platform as users deploy it (knative/overlays/requests, 4 scorer pods
// of a real Knative revision, Kafka → the KafkaSource stand-in → the revision's private Service → the pods'
// queue-proxies, decisions → the KafkaSink stand-in → Kafka):
// - SIGKILL of a scorer container mid-stream: the kubelet restarts it, and every transaction still ends in
//   exactly one or more decisions (at-least-once: none lost, duplicates counted);
// - a pod whose scorer stops answering (its container frozen) fails readiness, leaves the Service's
//   endpoints, and receives nothing while it is out.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { transactionMessage } from '@fraud/local-dispatcher/transaction-event';
import { type ReadRecord, readTopic } from '@fraud/testkit/topics';
import { TransactionSource, withoutLabels } from '@fraud/transactions';
import anyTest, { type TestFn } from 'ava';
import type { Message } from 'kafkajs';
import { type LivePlatform, type ScorerPod, startLivePlatform } from '../../cluster/lib/live-platform.mts';

const test = anyTest.serial as TestFn<{ platform: LivePlatform; stops: (() => Promise<void>)[] }>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, seconds: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${seconds} s`);
    await sleep(500);
  }
}

test.before(async (t) => {
  t.timeout(30 * 60_000);
  const stops: (() => Promise<void>)[] = [];
  t.context.stops = stops;
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'fraud-live-faults-'));
  t.context.platform = await startLivePlatform({
    overlay: 'requests',
    cpuRequest: '100m',
    workDir,
    stops,
    mark: (step, detail) => t.log(`${new Date().toISOString()} ${step}${detail ? ` (${detail})` : ''}`),
  });
});

test.after.always(async (t) => {
  // Pushed as each part started, so a before hook that failed half-way still stops what it started.
  for (const stop of (t.context.stops ?? []).reverse())
    await stop().catch((e: Error) => console.error(`stop: ${e.message}`));
});

let seed = 100;
function transactions(count: number, prefix: string): Message[] {
  const source = new TransactionSource({ seed: seed++, fraudRatio: 0.05, idPrefix: prefix });
  return Array.from({ length: count }, () =>
    transactionMessage(withoutLabels(source.next()), { source: '/live-faults' }),
  );
}

const idOf = (value: Buffer | string | null) =>
  (JSON.parse(String(value)) as { transaction_id: string }).transaction_id;

/** Produces the messages at about `perSecond`, in 100 ms slices. */
async function produce(platform: LivePlatform, messages: Message[], perSecond: number): Promise<void> {
  const producer = platform.kafka.client().producer();
  await producer.connect();
  try {
    const slice = Math.max(1, Math.floor(perSecond / 10));
    for (let i = 0; i < messages.length; i += slice) {
      await producer.send({ topic: 'transactions', acks: -1, messages: messages.slice(i, i + slice) });
      await sleep(100);
    }
  } finally {
    await producer.disconnect();
  }
}

/** Waits until every sent transaction has a decision (or a dead letter); returns what is missing. */
async function outcome(platform: LivePlatform, sent: Message[], prefix: string) {
  const wanted = new Set(sent.map((m) => idOf(m.value as Buffer)));
  const mine = (records: ReadRecord[]) =>
    records.map((r) => idOf(r.value)).filter((id) => id.startsWith(prefix) && wanted.has(id));
  const decisions = await readTopic(
    platform.kafka.client(),
    'decisions',
    (records) => new Set(mine(records)).size >= wanted.size,
    180_000,
  ).catch(() => readTopic(platform.kafka.client(), 'decisions', () => true, 5_000));
  const dead = await readTopic(platform.kafka.client(), 'transactions-dlq', () => true, 5_000).catch(
    () => [] as ReadRecord[],
  );
  const decided = mine(decisions);
  const decidedIds = new Set(decided);
  const deadIds = new Set(dead.map((r) => r.headers.ce_id ?? ''));
  const lost = [...wanted].filter((id) => !decidedIds.has(id) && !deadIds.has(id));
  return { decided: decidedIds.size, records: decided.length, dead: dead.length, lost };
}

/** The scorer's own count of decisions, read from the pod directly (port 8080, not through queue-proxy). */
async function podDecisions(pod: ScorerPod): Promise<number> {
  const text = await (
    await fetch(`http://${pod.ip}:8080/metrics`, { signal: AbortSignal.timeout(5000) })
  ).text();
  return [...text.matchAll(/^fraud_scorer_decisions_total(?:\{[^}]*\})? (\S+)$/gm)].reduce(
    (sum, m) => sum + Number(m[1]),
    0,
  );
}

async function readyEndpoints(platform: LivePlatform): Promise<string[]> {
  const slices = JSON.parse(
    await platform.cluster.kubectl([
      'get',
      'endpointslices',
      '-n',
      'fraud',
      '-l',
      `kubernetes.io/service-name=${platform.revision}-private`,
      '-o',
      'json',
    ]),
  ) as { items: { endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[] }[] };
  return slices.items.flatMap((s) =>
    (s.endpoints ?? []).filter((e) => e.conditions?.ready).flatMap((e) => e.addresses),
  );
}

test('a scorer container SIGKILLed mid-stream is restarted by the kubelet, and no transaction is lost', async (t) => {
  t.timeout(15 * 60_000);
  const { platform } = t.context;
  const dispatcher = await platform.startDispatcher({ ordering: 'unordered' });
  const sent = transactions(4000, 'kill-');
  const producing = produce(platform, sent, 200); // 20 s of traffic
  await sleep(6_000);
  const victim = (await platform.scorerPods()).find((p) => p.ready && p.containerId);
  if (!victim?.containerId) throw new Error('no Ready scorer pod with a container id to kill');
  await platform.cluster.ctr(['task', 'kill', '--signal', 'SIGKILL', victim.containerId]);
  const killedAt = Date.now();
  t.log(
    `SIGKILL ${victim.name} (container ${victim.containerId.slice(0, 12)}), ${victim.restarts} restarts before`,
  );
  await producing;
  const restarted = await until('the kubelet restarts the killed container', 180, async () => {
    const pod = (await platform.scorerPods()).find((p) => p.name === victim.name);
    return pod && pod.restarts > victim.restarts && pod.ready ? pod : undefined;
  });
  t.log(
    `${victim.name} Ready again after ${((Date.now() - killedAt) / 1000).toFixed(1)} s, ${restarted.restarts} restarts`,
  );
  const result = await outcome(platform, sent, 'kill-');
  t.log(
    `sent ${sent.length}; decided ${result.decided} (${result.records} decision records, ${result.records - result.decided} duplicates); dead letters ${result.dead}; lost ${result.lost.length}`,
  );
  t.true(restarted.restarts > victim.restarts, 'the kubelet restarted the container in place');
  t.deepEqual(result.lost, [], 'every transaction ends in a decision or a dead letter');
  t.is(result.dead, 0, 'a killed pod makes retries, not dead letters');
  await dispatcher.stop();
});

test('a pod failing readiness leaves the endpoints and receives no traffic until it is back', async (t) => {
  t.timeout(15 * 60_000);
  const { platform } = t.context;
  const pods = await until('4 Ready scorer pods', 120, async () => {
    const p = (await platform.scorerPods()).filter((pod) => pod.ready);
    return p.length >= 4 ? p : undefined;
  });
  const frozen = pods[0] as ScorerPod;
  const others = pods.slice(1);
  const before = await podDecisions(frozen);
  const othersBefore = await Promise.all(others.map(podDecisions));
  // The dispatcher joins its group first; it opens its connections at the first delivery, so every one of
  // them is made while the pod is out (kube-proxy balances connections: an established keep-alive
  // connection would stay with its pod whatever readiness says).
  const dispatcher = await platform.startDispatcher({ ordering: 'unordered' });
  // A frozen process is the readiness failure that matters: it holds its port open and answers nothing.
  // Kept short (under the liveness probe's 3 × 10 s), so the kubelet does not restart it meanwhile.
  await platform.cluster.ctr(['task', 'pause', frozen.containerId as string]);
  const frozenAt = Date.now();
  const sent = transactions(600, 'ready-');
  try {
    await until(`${frozen.name} reported not Ready`, 60, async () => {
      const pod = (await platform.scorerPods()).find((p) => p.name === frozen.name);
      return pod && !pod.ready ? true : undefined;
    });
    await until(`${frozen.ip} out of the private Service's ready endpoints`, 30, async () =>
      (await readyEndpoints(platform)).includes(frozen.ip) ? undefined : true,
    );
    t.log(
      `${frozen.name} (${frozen.ip}) not Ready and out of the endpoints ${((Date.now() - frozenAt) / 1000).toFixed(1)} s after the freeze`,
    );
    await produce(platform, sent, 300);
    // Read from the Ready pods themselves (a topic read takes seconds of consumer-group joins): the freeze
    // must end before the liveness probe's restart would.
    await until('the Ready pods to decide all 600', 20, async () => {
      const now = await Promise.all(others.map(podDecisions));
      const gained = now.reduce((sum, n, i) => sum + n - (othersBefore[i] ?? 0), 0);
      return gained >= sent.length ? true : undefined;
    });
  } finally {
    await platform.cluster.ctr(['task', 'resume', frozen.containerId as string]);
    t.log(`resumed after ${((Date.now() - frozenAt) / 1000).toFixed(1)} s frozen`);
    await dispatcher.stop();
  }
  await until(`${frozen.name} Ready again`, 120, async () => {
    const pod = (await platform.scorerPods()).find((p) => p.name === frozen.name);
    return pod?.ready ? true : undefined;
  });
  const result = await outcome(platform, sent, 'ready-');
  t.log(
    `sent ${sent.length}; decided ${result.decided}; dead letters ${result.dead}; lost ${result.lost.length}`,
  );
  t.deepEqual(result.lost, [], 'the other pods decided everything');
  const back = (await platform.scorerPods()).find((p) => p.name === frozen.name);
  t.is(back?.restarts, frozen.restarts, 'the frozen container was resumed, not restarted by liveness');
  const after = await podDecisions(frozen);
  const othersAfter = await Promise.all(others.map(podDecisions));
  const othersGained = othersAfter.reduce((s, n, i) => s + n - (othersBefore[i] ?? 0), 0);
  t.log(`frozen pod: ${before} → ${after} decisions; the others gained ${othersGained}`);
  t.is(after, before, 'the pod out of the endpoints scored nothing');
  t.true(othersGained >= 600, 'the Ready pods took all the traffic');
});
