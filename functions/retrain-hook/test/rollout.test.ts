// The whole hook against real services: MLflow 3 (SQLite) on the node's bridge address, the project's real
// node with the real Knative Serving 1.15 (its controller makes every canary Revision, Deployment and pod
// from the score image; readiness, status.traffic and failure conditions are its own), real synthetic
// transactions sent through each revision's queue-proxy in the proportions of the real status.traffic, and
// a real Prometheus scraping the score pods with the PodMonitor's relabelling. Not real: the traffic split
// (no Knative ingress here, see helpers/revision-routes.ts). Start-up: helpers/stack.ts. One node per machine:
// run under `flock /tmp/fraud-node-dev.lock`.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type RunningMlflow, startMlflow } from '@fraud/testkit/mlflow';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { DEFAULT_QUERIES } from '../src/config.ts';
import type { Hook } from '../src/hook.ts';
import { servedPercent } from '../src/knative.ts';
import { renderQuery } from '../src/prometheus.ts';
import { TERMINAL_STATES } from '../src/rollout.ts';
import { kubeConfigFrom, testHook } from './helpers/hook.ts';
import { damagedModel, goodModel, otherFeaturesModel } from './helpers/model-artifacts.ts';
import { aliasVersion, goodMetrics, registerVersion, versionTags } from './helpers/registry.ts';
import { airflowRequest, injectRegistered, MLFLOW_SECRET, registered } from './helpers/signed.ts';
import { NS, type RolloutStack, SERVICE, startRolloutStack, writePolicy } from './helpers/stack.ts';

const test = anyTest as TestFn;

let mlflow: RunningMlflow;
let stack: RolloutStack;
let hook: Hook;
let hookUrl: string;
let policyDir: string;
let policyFile: string;
let hookKubeconfig: string;
const getService = () => stack.getService();
/** A version with the bundled model's files, which the traffic fits. */
const register = (metrics = goodMetrics()) =>
  registerVersion(mlflow.url, metrics, 'fraud-detector', goodModel());
const revisionOf = (version: string) => `${SERVICE}-model-v${version}`;

// Knative turns a revision whose pods never get Ready into a failed one after this (its progress deadline);
// the hook's own ready timeout is only the backstop behind it.
const PROGRESS_DEADLINE_SECONDS = 60;
const canaryPolicy = {
  traffic_percent: 10,
  ready_timeout_seconds: 180,
  observation_seconds: 6,
  poll_seconds: 1,
  max_error_rate: 0.05,
  // Server-side p95 of the scorer in the pod; the 2 shared cores are often loaded, so not the tight 100 ms.
  max_p95_latency_ms: 300,
  require_traffic: true,
};

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Until the version's rollout reaches an end (promoted, rolled_back or rejected); returns its tags, so a test
 * that expected another end fails at once with the hook's reasons instead of waiting out its timeout. A
 * timeout names the phase the hook was in and the tags so far.
 */
async function decided(
  version: string,
  timeoutMs: number,
  manager: () => Hook['rollout'] = () => hook.rollout,
): Promise<Record<string, string>> {
  try {
    return await until(
      `version ${version} to be decided`,
      async () => {
        const tags = await versionTags(mlflow.url, version);
        return TERMINAL_STATES.has(tags['rollout.state'] ?? '') ? tags : undefined;
      },
      timeoutMs,
    );
  } catch (error) {
    const tags = await versionTags(mlflow.url, version).catch((e: Error) => e.message);
    throw new Error(
      `${(error as Error).message}; hook phase ${manager().current?.phase ?? '(no rollout)'}; tags ${JSON.stringify(tags)}`,
    );
  }
}

/** Asserts how a decided version ended, with the hook's reasons in the message. */
function assertEnded(t: ExecutionContext, tags: Record<string, string>, state: string): void {
  t.is(tags['rollout.state'], state, `rollout.reasons ${tags['rollout.reasons'] ?? '(none)'}`);
}

const hookEnv = (policy = policyFile) => ({
  MLFLOW_TRACKING_URI: mlflow.url,
  PROMETHEUS_URL: stack.prometheus.url,
  POLICY_FILE: policy,
  SCORE_SERVICE: SERVICE,
});

async function newHook(): Promise<void> {
  hook = testHook(hookEnv(), hookKubeconfig);
  hookUrl = await hook.start();
}

const callback = (version: string, eventId?: string, url = hookUrl) => {
  const request = airflowRequest(registered(version, eventId));
  return fetch(`${url}/airflow/events`, { method: 'POST', body: request.body, headers: request.headers });
};

/** The invariant of the issue: an alias never names a version that no revision serves. */
async function assertAliasesServed(t: ExecutionContext) {
  const service = await getService();
  for (const alias of ['champion', 'challenger']) {
    const version = await aliasVersion(mlflow.url, alias);
    if (!version) continue;
    t.true(
      servedPercent(service, revisionOf(version)) > 0,
      `alias ${alias} → version ${version} must be served by a revision with traffic`,
    );
  }
}

/** Answers the feeder got from a revision's real pod (through its queue-proxy), by HTTP status. */
const answersOf = (revision: string) => Object.fromEntries(stack.feeder.answers.get(revision) ?? []);

async function deleteWebhooks(): Promise<void> {
  const listed = await fetch(`${mlflow.url}/api/2.0/mlflow/webhooks`);
  const { webhooks = [] } = (await listed.json()) as { webhooks?: { webhook_id: string }[] };
  for (const w of webhooks)
    await fetch(`${mlflow.url}/api/2.0/mlflow/webhooks/${w.webhook_id}`, { method: 'DELETE' });
}

/** spec.traffic pinning all traffic to a revision, as the hook patches it and Knative's webhook defaults it. */
const allTrafficTo = (revision: string) => [{ latestRevision: false, percent: 100, revisionName: revision }];

/** Until status.traffic (Knative's) sends 100 % to the revision. */
const untilAllTrafficOn = (revision: string, timeoutMs = 120_000) =>
  until(
    `100 % of status.traffic on ${revision}`,
    async () => (servedPercent(await getService(), revision) === 100 ? true : undefined),
    timeoutMs,
  );

test.before(async (t) => {
  t.timeout(30 * 60_000, 'starting the node, Knative Serving, MLflow, Prometheus and the first score pod');
  policyDir = mkdtempSync(path.join(os.tmpdir(), 'retrain-hook-test-'));
  policyFile = writePolicy(policyDir, canaryPolicy);
  // Like production traffic, a tenth of every revision's requests is bad input the scorers answer 400:
  // only a canary's excess over the champion's share may count against it.
  stack = await startRolloutStack({
    mlflow: async (host) => {
      mlflow = await startMlflow({ host });
      return mlflow.url;
    },
    badInputEvery: 10,
    progressDeadline: `${PROGRESS_DEADLINE_SECONDS}s`,
  });
  hookKubeconfig = stack.hookKubeconfig;
  await newHook();
});

// A failure names its cause: the end of MLflow's log, what Knative made of the score Service, the feeder.
test.afterEach.always(async (t) => {
  if (t.passed) return;
  t.log(`MLflow log ${mlflow?.process.logFile}:\n${mlflow?.process.tail(30)}`);
  if (!stack) return;
  const kubectl = stack.cluster.kubectl;
  t.log(await kubectl(['get', 'ksvc,revisions,pods', '-n', NS, '-o', 'wide']).catch((e: Error) => e.message));
  t.log(`status: ${JSON.stringify((await getService().catch(() => undefined))?.status)}`);
  t.log(
    `feeder answers: ${JSON.stringify([...stack.feeder.answers].map(([r, m]) => [r, Object.fromEntries(m)]))}`,
  );
});

test.after.always(async () => {
  await hook?.stop();
  await stack?.stop();
  await mlflow?.stop();
});

test.serial(
  'a good first model is promoted once, though MLflow and Airflow both deliver it (twice)',
  async (t) => {
    t.timeout(5 * 60_000);
    // A real MLflow webhook: model_version.created reaches the hook as well as the Airflow callback.
    const webhook = await fetch(`${mlflow.url}/api/2.0/mlflow/webhooks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'retrain-hook',
        url: `${hookUrl}/mlflow/webhooks`,
        events: [{ entity: 'MODEL_VERSION', action: 'CREATED' }],
        secret: MLFLOW_SECRET,
      }),
    });
    t.is(webhook.status, 200, await webhook.clone().text());
    // Whatever happens here, later versions must not be delivered by MLflow too.
    t.teardown(deleteWebhooks);
    const version = await register();
    t.is(version, '1');
    const started = Date.now();
    const first = await callback(version, 'run-1');
    t.is(first.status, 202, await first.clone().text());
    const duplicate = await callback(version, 'run-1');
    t.is(duplicate.status, 200);
    t.true(((await duplicate.json()) as { duplicate: boolean }).duplicate);
    const again = await callback(version, 'run-1-retry');
    t.true([200, 202].includes(again.status));

    // Knative's status: the canary routed at 10 % only once its revision is Ready.
    await until(
      'canary routed',
      async () => (await getService()).status?.traffic?.some((x) => x.tag === 'canary' && x.percent === 10),
      canaryPolicy.ready_timeout_seconds * 1000,
    );
    const canaryRouted = Date.now();
    await assertAliasesServed(t);
    // The hook's own error-rate query, read beside it: how close did the canary come to the limit?
    const errorRate = renderQuery(DEFAULT_QUERIES.errorRate, {
      revision: revisionOf('1'),
      namespace: NS,
      service: SERVICE,
    });
    let highest = 0;
    await until(
      'promotion',
      async () => {
        const [sample] = await stack.prometheus.query(errorRate).catch(() => []);
        if (Number.isFinite(Number(sample?.value[1]))) highest = Math.max(highest, Number(sample?.value[1]));
        return (
          servedPercent(await getService(), revisionOf('1')) === 100 &&
          (await versionTags(mlflow.url, '1'))['rollout.state'] === 'promoted'
        );
      },
      120_000,
    );
    const seconds = (Date.now() - started) / 1000;
    const canary = answersOf(revisionOf('1'));
    t.true((canary[400] ?? 0) > 0, `the canary got bad input as the champion did: ${JSON.stringify(canary)}`);
    t.true((canary[200] ?? 0) > 0, `the canary's pod served: ${JSON.stringify(canary)}`);
    t.log(
      `highest canary error rate seen: ${highest.toFixed(4)} (limit 0.05), answers ${JSON.stringify(canary)}`,
    );
    t.log(
      `callback → version 1 on 100 % of status.traffic and tagged promoted: ${seconds.toFixed(1)} s (canary Ready and routed after ${((canaryRouted - started) / 1000).toFixed(1)} s; observation window 6 s)`,
    );
    await hook.rollout.settled();

    const tags = await versionTags(mlflow.url, '1');
    t.is(tags['gate.decision'], 'passed');
    t.deepEqual(JSON.parse(tags['gate.reasons'] ?? ''), []);
    t.is(tags['rollout.revision'], revisionOf('1'));
    t.is(tags['rollout.previous_revision'], `${SERVICE}-00001`);
    t.is(await aliasVersion(mlflow.url, 'champion'), '1');
    t.is(await aliasVersion(mlflow.url, 'challenger'), undefined);
    const service = await getService();
    t.deepEqual(service.spec.traffic, allTrafficTo(revisionOf('1')));
    t.is(service.status?.latestReadyRevisionName, revisionOf('1'));
    t.is(
      service.spec.template.spec.containers[0]?.env?.find((e) => e.name === 'MODEL_URI')?.value,
      'models:/fraud-detector/1',
    );
    // Knative's Revision (immutable) carries the template the hook wrote; its pod loaded that version.
    const revisionEnv = JSON.parse(
      await stack.cluster.kubectl([
        'get',
        'revision',
        '-n',
        NS,
        revisionOf('1'),
        '-o',
        'jsonpath={.spec.containers[0].env}',
      ]),
    ) as { name: string; value?: string }[];
    t.is(revisionEnv.find((e) => e.name === 'MODEL_URI')?.value, 'models:/fraud-detector/1');
    const [info] = await stack.prometheus.query(`fraud_scorer_model_info{revision="${revisionOf('1')}"}`);
    t.truthy(info, 'Prometheus scraped the pod with the revision label of the PodMonitor');
    await assertAliasesServed(t);
    const metrics = await (await fetch(`${hookUrl}/metrics`)).text();
    t.regex(metrics, /^fraud_retrain_promotions_total 1$/m, 'one promotion despite four deliveries');
    t.regex(
      metrics,
      /fraud_retrain_events_total\{endpoint="mlflow",type="model_version\.created"\} 1/,
      'MLflow delivered its webhook',
    );
  },
);

test.serial('a worse model is rejected with reasons in its tags, and the Service is untouched', async (t) => {
  const before = await getService();
  const version = await registerVersion(
    mlflow.url,
    goodMetrics({
      pr_auc: 0.12,
      recall_at_target_precision: 0.01,
      champion_pr_auc: 0.82,
      champion_recall_at_target_precision: 0.7,
    }),
  );
  const response = await callback(version);
  t.is(response.status, 200);
  const body = (await response.json()) as { decision: string; reasons: string[] };
  t.is(body.decision, 'rejected');
  const tags = await versionTags(mlflow.url, version);
  t.is(tags['gate.decision'], 'rejected');
  t.is(tags['rollout.state'], 'rejected');
  const reasons = JSON.parse(tags['gate.reasons'] ?? '[]') as string[];
  t.deepEqual(reasons, body.reasons);
  t.true(reasons.some((r) => /pr_auc 0\.12 below the minimum/.test(r)));
  t.true(reasons.some((r) => /regresses .* champion/.test(r)));
  const after = await getService();
  t.deepEqual(after.spec, before.spec);
  t.is(after.metadata.generation, before.metadata.generation, 'no new generation, so no new revision');
  t.is(await aliasVersion(mlflow.url, 'champion'), '1');
  const repeat = await callback(version);
  t.is(
    ((await repeat.json()) as { state: string }).state,
    'rejected',
    'a decided version is not decided again',
  );
});

test.serial(
  'a canary whose model rejects the traffic the champion serves is rolled back; a second version meanwhile gets 429',
  async (t) => {
    t.timeout(5 * 60_000);
    // Good training metrics and a valid, loadable model, but trained on other features than the
    // transactions in production: its real pod answers them 400 while the champion answers 200.
    const version = await registerVersion(
      mlflow.url,
      goodMetrics({ champion_pr_auc: 0.8, champion_recall_at_target_precision: 0.7 }),
      'fraud-detector',
      otherFeaturesModel(),
    );
    const started = Date.now();
    t.is((await callback(version)).status, 202);
    const other = await register();
    const busy = await callback(other);
    t.is(busy.status, 429);
    t.is(busy.headers.get('retry-after'), '30');
    assertEnded(t, await decided(version, 240_000), 'rolled_back');
    await hook.rollout.settled();
    await untilAllTrafficOn(revisionOf('1'));
    t.log(`callback → rolled back, 100 % on the champion: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const tags = await versionTags(mlflow.url, version);
    t.regex(tags['rollout.reasons'] ?? '', /canary error rate [01]\.\d{4} above the maximum 0\.05/);
    const canary = answersOf(revisionOf(version));
    t.true(
      (canary[400] ?? 0) > 0 && !canary[200],
      `the canary's pod rejected the traffic: ${JSON.stringify(canary)}`,
    );
    t.true((answersOf(revisionOf('1'))[200] ?? 0) > 0, 'the champion served the same traffic');
    const service = await getService();
    t.deepEqual(service.spec.traffic, allTrafficTo(revisionOf('1')));
    t.is(await aliasVersion(mlflow.url, 'champion'), '1');
    t.is(await aliasVersion(mlflow.url, 'challenger'), undefined);
    await assertAliasesServed(t);
    t.regex(
      await (await fetch(`${hookUrl}/metrics`)).text(),
      /fraud_retrain_rollbacks_total\{reason="error_rate"\} 1/,
    );
    // The busy version was never touched: it can be delivered again later.
    t.is((await versionTags(mlflow.url, other))['gate.decision'], undefined);
  },
);

test.serial(
  'two callbacks for different versions racing: one rollout starts, the other is told to retry, one promotion',
  async (t) => {
    t.timeout(5 * 60_000);
    const [a, b] = [await register(), await register()] as [string, string];
    const promotionsBefore = Number(
      (await (await fetch(`${hookUrl}/metrics`)).text()).match(
        /^fraud_retrain_promotions_total (\d+)$/m,
      )?.[1],
    );
    const answers = await Promise.all([callback(a), callback(b)]);
    const statuses = answers.map((r) => r.status).sort();
    t.deepEqual(statuses, [202, 429], 'exactly one of the racing versions starts');
    const winner = answers[0]?.status === 202 ? a : b;
    const loser = winner === a ? b : a;
    assertEnded(t, await decided(winner, 240_000), 'promoted');
    await hook.rollout.settled();
    await untilAllTrafficOn(revisionOf(winner));
    t.is(await aliasVersion(mlflow.url, 'champion'), winner);
    const loserTags = await versionTags(mlflow.url, loser);
    t.is(loserTags['gate.decision'], undefined, 'the loser was not even gated');
    t.is(loserTags['rollout.state'], undefined);
    const revisions = JSON.parse(
      await stack.cluster.kubectl(['get', 'revisions', '-n', NS, '-o', 'json']),
    ) as { items: { metadata: { name: string } }[] };
    t.false(
      revisions.items.some((r) => r.metadata.name === revisionOf(loser)),
      'Knative never made a revision for the loser',
    );
    const promotions = Number(
      (await (await fetch(`${hookUrl}/metrics`)).text()).match(
        /^fraud_retrain_promotions_total (\d+)$/m,
      )?.[1],
    );
    t.is(promotions, promotionsBefore + 1);
    await assertAliasesServed(t);
  },
);

test.serial(
  'MLflow stopped mid-promotion: nothing half-done, and the rollout finishes once it is back',
  async (t) => {
    t.timeout(6 * 60_000);
    const version = await register();
    const champion = await aliasVersion(mlflow.url, 'champion');
    t.is((await callback(version)).status, 202);
    await until(
      'challenger set',
      async () => (await aliasVersion(mlflow.url, 'challenger')) === version,
      canaryPolicy.ready_timeout_seconds * 1000,
    );
    const { dataDir, port, webhookEncryptionKey } = mlflow;
    await mlflow.process.stop();
    // Well past the observation window: the hook must wait, not promote without the registry.
    await new Promise((r) => setTimeout(r, 9000));
    const during = await getService();
    t.true(
      during.spec.traffic?.some((x) => x.revisionName === revisionOf(version) && x.percent === 10),
      'still a 10% canary while MLflow is down',
    );
    t.is(servedPercent(during, revisionOf(version)), 10, 'and Knative still routes 10 % to it');
    t.is(servedPercent(during, revisionOf(champion ?? '')), 90);
    t.truthy(hook.rollout.current, 'the rollout is still in progress');
    const down = await callback(String(Number(version) + 1));
    t.is(down.status, 429, 'one rollout at a time even while MLflow is down');
    const restartedAt = Date.now();
    const restarted = await startMlflow({ dataDir, port, webhookEncryptionKey, host: stack.cluster.nodeIp });
    t.log(`MLflow back after ${((Date.now() - restartedAt) / 1000).toFixed(1)} s`);
    mlflow = {
      ...restarted,
      stop: async () => {
        await restarted.process.stop();
      },
    } as RunningMlflow;
    assertEnded(t, await decided(version, 180_000), 'promoted');
    await hook.rollout.settled();
    t.is(await aliasVersion(mlflow.url, 'champion'), version);
    t.deepEqual((await getService()).spec.traffic, allTrafficTo(revisionOf(version)));
    await untilAllTrafficOn(revisionOf(version));
    await assertAliasesServed(t);
    t.regex(
      await (await fetch(`${hookUrl}/metrics`)).text(),
      /fraud_retrain_dependency_errors_total\{dependency="mlflow"\} [1-9]/,
    );
  },
);

test.serial('a restarted hook recovers the interrupted rollout from the Service and the tags', async (t) => {
  t.timeout(8 * 60_000);
  const version = await register();
  t.is((await callback(version)).status, 202);
  await until(
    'canary state tagged',
    async () => (await versionTags(mlflow.url, version))['rollout.state'] === 'canary',
  );
  await hook.stop();
  t.true(
    (await getService()).spec.traffic?.some((x) => x.tag === 'canary'),
    'stopped with the canary in place',
  );
  await newHook();
  // Recovery re-waits readiness and a whole observation window.
  assertEnded(t, await decided(version, 300_000), 'promoted');
  await hook.rollout.settled();
  t.is(await aliasVersion(mlflow.url, 'champion'), version);
  t.deepEqual((await getService()).spec.traffic, allTrafficTo(revisionOf(version)));
  await untilAllTrafficOn(revisionOf(version));
  t.regex(await (await fetch(`${hookUrl}/metrics`)).text(), /^fraud_retrain_promotions_total 1$/m);
  await assertAliasesServed(t);
});

test.serial(
  'a version whose artifact fails the sha256 check: Knative marks its revision failed and the hook rolls back on that',
  async (t) => {
    t.timeout(8 * 60_000);
    const champion = await aliasVersion(mlflow.url, 'champion');
    const version = await registerVersion(mlflow.url, goodMetrics(), 'fraud-detector', damagedModel());
    const started = Date.now();
    t.is((await callback(version)).status, 202);
    assertEnded(t, await decided(version, (PROGRESS_DEADLINE_SECONDS + 120) * 1000), 'rolled_back');
    await hook.rollout.settled();
    const seconds = (Date.now() - started) / 1000;
    const reasons = (await versionTags(mlflow.url, version))['rollout.reasons'] ?? '';
    // Knative's condition, not the hook's timeout (180 s, far behind Knative's 60 s progress deadline).
    t.regex(reasons, new RegExp(`revision ${revisionOf(version)} failed \\(Knative: RevisionFailed`));
    t.true(seconds < canaryPolicy.ready_timeout_seconds, `rolled back after ${seconds.toFixed(1)} s`);
    t.log(`callback → rolled back on Knative's verdict: ${seconds.toFixed(1)} s; reasons ${reasons}`);
    const pods = await stack.podsOf(revisionOf(version));
    t.false(
      pods.some((p) => p.ready),
      `its pod never turned Ready: ${JSON.stringify(pods)}`,
    );
    const logs = await stack.cluster
      .kubectl(['logs', '-n', NS, '-l', `serving.knative.dev/revision=${revisionOf(version)}`, '-c', 'score'])
      .catch((e: Error) => e.message);
    t.regex(logs, /sha256 mismatch/, 'the scorer in the pod refused the damaged model');
    t.is(answersOf(revisionOf(version))[200], undefined, 'it never served a request');
    t.is(await aliasVersion(mlflow.url, 'champion'), champion);
    t.is(await aliasVersion(mlflow.url, 'challenger'), undefined);
    t.deepEqual((await getService()).spec.traffic, allTrafficTo(revisionOf(champion ?? '')));
    t.is(servedPercent(await getService(), revisionOf(champion ?? '')), 100);
    t.regex(
      await (await fetch(`${hookUrl}/metrics`)).text(),
      /fraud_retrain_rollbacks_total\{reason="not_ready"\} 1/,
    );
  },
);

test.serial(
  'a rollback while the canary pod is still starting: traffic stays on the champion, also once the pod is Ready',
  async (t) => {
    t.timeout(6 * 60_000);
    const champion = (await aliasVersion(mlflow.url, 'champion')) ?? '';
    // A hook that gives the canary 1 s: less than its pod takes to start and load its model here.
    await hook.stop();
    const impatient = testHook(
      hookEnv(writePolicy(policyDir, { ...canaryPolicy, ready_timeout_seconds: 1 })),
      hookKubeconfig,
    );
    try {
      const url = await impatient.start();
      const version = await register();
      t.is((await callback(version, undefined, url)).status, 202);
      assertEnded(t, await decided(version, 60_000, () => impatient.rollout), 'rolled_back');
      await impatient.rollout.settled();
      const tags = await versionTags(mlflow.url, version);
      t.regex(tags['rollout.reasons'] ?? '', /was not ready and serving within 1 s/);
      t.deepEqual((await getService()).spec.traffic, allTrafficTo(revisionOf(champion)));
      t.is(await aliasVersion(mlflow.url, 'champion'), champion);
      t.is(await aliasVersion(mlflow.url, 'challenger'), undefined);
      // The pod goes on starting (its model is good) and Knative makes the revision the latest ready one.
      // It is not scaled away: Knative's labeler clears the routingState of revisions a Route no longer
      // names only once that Route is Ready, and without an ingress Routes never are (so it stays `active`
      // and keeps its min-scale pod). Either way no traffic may reach it.
      await until(
        'the abandoned revision Ready',
        async () => (await getService()).status?.latestReadyRevisionName === revisionOf(version),
        (PROGRESS_DEADLINE_SECONDS + 30) * 1000,
      );
      // The kubelet's own record: the pod turned Ready after the rollback (its clock is this machine's;
      // lastTransitionTime has whole seconds, so compare in seconds).
      const pod = JSON.parse(
        await stack.cluster.kubectl([
          'get',
          'pods',
          '-n',
          NS,
          '-l',
          `serving.knative.dev/revision=${revisionOf(version)}`,
          '-o',
          'jsonpath={.items[0].status.conditions}',
        ]),
      ) as { type: string; status: string; lastTransitionTime: string }[];
      const readyAt = Date.parse(pod.find((c) => c.type === 'Ready')?.lastTransitionTime ?? '');
      const rolledBackAt = Date.parse(tags['rollout.finished_at'] ?? '');
      t.log(
        `rollback at ${tags['rollout.finished_at']}, the pod Ready at ${new Date(readyAt).toISOString()} (kubelet)`,
      );
      t.true(
        Math.floor(readyAt / 1000) >= Math.floor(rolledBackAt / 1000),
        'the pod was still starting when the hook rolled back',
      );
      await new Promise((r) => setTimeout(r, 3000)); // a few feeder rounds with the revision Ready
      const service = await getService();
      t.is(servedPercent(service, revisionOf(champion)), 100);
      t.is(servedPercent(service, revisionOf(version)), 0);
      t.deepEqual(service.spec.traffic, allTrafficTo(revisionOf(champion)));
      t.is(answersOf(revisionOf(version))[200], undefined, 'it never served a request');
      t.is((await versionTags(mlflow.url, version))['rollout.state'], 'rolled_back');
      await assertAliasesServed(t);
    } finally {
      await impatient.stop();
      await newHook();
    }
  },
);

test.serial('the hook runs with its least-privilege RBAC: it cannot touch any other Service', async (t) => {
  const other = {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: { name: 'other', namespace: NS },
    spec: {
      template: {
        // An image no node has (and no registry to pull from): its pod never runs, costing nothing.
        spec: { containers: [{ image: 'local.fraud/other:absent' }] },
      },
    },
  };
  await stack.cluster.kubectl(['apply', '-f', '-'], JSON.stringify(other));
  try {
    const { ScoreServiceClient } = await import('../src/knative.ts');
    const asHook = new ScoreServiceClient(kubeConfigFrom(hookKubeconfig), NS, 'other');
    const error = await t.throwsAsync(() => asHook.get());
    t.regex(error?.message ?? '', /not allowed .* check the hook's RBAC/);
    const patch = await t.throwsAsync(() => asHook.patchSpec({ traffic: [] }));
    t.regex(patch?.message ?? '', /not allowed .* check the hook's RBAC/);
    const score = new ScoreServiceClient(kubeConfigFrom(hookKubeconfig), NS, SERVICE);
    t.is((await score.get()).metadata.name, SERVICE);
  } finally {
    await stack.cluster.kubectl(['delete', 'ksvc', 'other', '-n', NS, '--wait=false']);
  }
});

test.serial(
  'Kubernetes API unreachable: 503 after retries, gate recorded, nothing rolled out, no alias moved',
  async (t) => {
    const champion = await aliasVersion(mlflow.url, 'champion');
    const before = await getService();
    const version = await register();
    const cut = testHook(hookEnv()); // no kubeconfig: the API server is a closed port
    try {
      const response = await injectRegistered(cut.app, version);
      t.is(response.statusCode, 503);
      t.regex(response.json().error, /^kubernetes unavailable: Kubernetes API unreachable/);
      const tags = await versionTags(mlflow.url, version);
      t.is(tags['gate.decision'], 'passed');
      t.is(tags['rollout.state'], undefined, 'no rollout started');
      t.is(await aliasVersion(mlflow.url, 'champion'), champion);
      t.is(await aliasVersion(mlflow.url, 'challenger'), undefined);
      t.deepEqual((await getService()).spec, before.spec);
    } finally {
      await cut.stop();
    }
  },
);
