// The real server process: readiness before and after loading, a model that fails verification, and a
// graceful SIGTERM that finishes in-flight requests.
import http from 'node:http';
import { freePort } from '@fraud/testkit/ports';
import test from 'ava';
import { loadCard, modelCopy } from './helpers/model.ts';
import { spawnScorer } from './helpers/server.ts';
import { sampleTransactions } from './helpers/transactions.ts';

const card = loadCard();
const txs = sampleTransactions(card, 1000, 5);

test('ready only after the model is loaded and warmed; liveness and metrics answer before', async (t) => {
  // An MLflow nobody runs: the scorer listens, stays not ready, and says why (it keeps retrying).
  const deadPort = await freePort();
  const s = await spawnScorer(
    { MODEL_URI: 'models:/fraud-detector@champion', MLFLOW_TRACKING_URI: `http://127.0.0.1:${deadPort}` },
    { waitReady: false },
  );
  try {
    t.is((await fetch(`${s.url}/health/liveness`)).status, 200);
    const ready = await fetch(`${s.url}/health/readiness`);
    t.is(ready.status, 503);
    t.regex(((await ready.json()) as { reason: string }).reason, /loading model|MLflow unreachable/);
    const v2 = await fetch(`${s.url}/v2/health/ready`);
    t.is(v2.status, 400);
    const score = await fetch(`${s.url}/score`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(txs[0]),
    });
    t.is(score.status, 503);
    t.is(score.headers.get('retry-after'), '1');
    t.regex(((await score.json()) as { error: string }).error, /^not ready: /);
    t.regex(await (await fetch(`${s.url}/metrics`)).text(), /^fraud_scorer_ready 0$/m);
  } finally {
    await s.stop();
  }
  const good = await spawnScorer();
  try {
    const body = (await (await fetch(`${good.url}/health/readiness`)).json()) as { ready: boolean };
    t.true(body.ready);
    t.regex(await (await fetch(`${good.url}/metrics`)).text(), /^fraud_scorer_ready 1$/m);
  } finally {
    await good.stop();
  }
});

test('a model whose sha256 does not match its card is never served: not ready, with the reason', async (t) => {
  const dir = modelCopy((c) => {
    (c.onnx as { sha256: string }).sha256 = 'f'.repeat(64);
  });
  const s = await spawnScorer({ MODEL_URI: dir }, { waitReady: false });
  try {
    let reason = '';
    for (let i = 0; i < 50 && !reason.includes('sha256'); i++) {
      reason = ((await (await fetch(`${s.url}/health/readiness`)).json()) as { reason: string }).reason;
      await new Promise((r) => setTimeout(r, 100));
    }
    t.regex(reason, /sha256 mismatch .* model card says f{64}, model\.onnx hashes to [0-9a-f]{64}/);
    await new Promise((r) => setTimeout(r, 500));
    t.is((await fetch(`${s.url}/health/readiness`)).status, 503, 'stays not ready');
    const infer = await fetch(`${s.url}/v2/models/${card.name}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [{ name: 'input', shape: [1, 9], datatype: 'FP32', data: Array(9).fill(0) }],
      }),
    });
    t.is(infer.status, 503);
  } finally {
    await s.stop();
  }
});

/** POST over a given keep-alive agent (node:http, so the test controls which connections exist). */
function post(agent: http.Agent, url: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('SIGTERM: readiness drops, in-flight requests finish with 200, then the process exits 0', async (t) => {
  // A long grace period: on a loaded CI machine scoring 30 000 rows can take a while; the test is about draining.
  const s = await spawnScorer({ MAX_QUEUE: '100000', SHUTDOWN_GRACE_MS: '120000' });
  const n = 30;
  const agent = new http.Agent({ keepAlive: true, maxSockets: n });
  // Open (and have the server accept) every connection first, so each POST below is surely in flight.
  await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<void>((resolve, reject) =>
          http
            .get(`${s.url}/health/liveness`, { agent }, (res) => res.resume().on('end', resolve))
            .on('error', reject),
        ),
    ),
  );
  const body = JSON.stringify(txs);
  const inflight = Array.from({ length: n }, () => post(agent, `${s.url}/score`, body));
  await new Promise((r) => setTimeout(r, 100));
  const exited = s.process.exited;
  s.process.child.kill('SIGTERM');
  const results = await Promise.all(inflight);
  agent.destroy();
  t.deepEqual(
    results.map((r) => r.status),
    Array(n).fill(200),
  );
  t.true(results.every((r) => (JSON.parse(r.body) as unknown[]).length === 1000));
  t.is(await exited, 0);
  // The log file is written by this process from the child's pipe: give it a moment to catch up.
  for (let i = 0; i < 20 && !s.process.tail(5).includes('stopped cleanly'); i++)
    await new Promise((r) => setTimeout(r, 50));
  t.regex(s.process.tail(5), /stopped cleanly/);
  await t.throwsAsync(fetch(`${s.url}/health/liveness`));
});
