// Backpressure (bounded queue → 429 with Retry-After) and decision publishing to a sink (retries, drops,
// never blocking the reply), in process against a real CloudEvents HTTP receiver on loopback.
import test from 'ava';
import { HTTP } from 'cloudevents';
import Fastify from 'fastify';
import { loadCard } from './helpers/model.ts';
import { inProcess, metricValue } from './helpers/server.ts';
import { sampleTransactions } from './helpers/transactions.ts';

const card = loadCard();
const txs = sampleTransactions(card, 500, 9);

test.serial(
  'a full queue answers 429 with Retry-After, everything else is scored, nothing 5xx',
  async (t) => {
    // Worker threads: inline, every full batch runs as it arrives, so the queue never holds more than one.
    const s = await inProcess({
      INFERENCE_MODE: 'workers',
      MAX_QUEUE: '500',
      MAX_BATCH_SIZE: '500',
      INFERENCE_WORKERS: '1',
    });
    try {
      const body = JSON.stringify(txs);
      const results = await Promise.all(
        Array.from({ length: 40 }, () =>
          s.app.inject({
            method: 'POST',
            url: '/score',
            headers: { 'content-type': 'application/json' },
            payload: body,
          }),
        ),
      );
      const statuses = results.map((r) => r.statusCode);
      t.true(
        statuses.every((x) => x === 200 || x === 429),
        statuses.join(','),
      );
      const rejected = results.filter((r) => r.statusCode === 429);
      t.true(rejected.length > 0, 'some requests must be turned away');
      t.true(statuses.includes(200));
      for (const r of rejected) {
        t.is(r.headers['retry-after'], '1');
        t.regex(r.json().error, /queue is full/);
      }
      t.true(s.scorer.pool.queueDepth <= 500);
      const metrics = (await s.app.inject('/metrics')).body;
      t.is(
        metricValue(metrics, 'fraud_scorer_requests_total{route="score",outcome="rejected"}'),
        rejected.length,
      );
    } finally {
      await s.close();
    }
  },
);

/** A CloudEvents receiver that fails the first `failures` deliveries with 503, or never answers. */
async function receiver(options: { failures?: number; hang?: boolean; status?: number }) {
  const app = Fastify({ forceCloseConnections: true });
  const received: ReturnType<typeof HTTP.toEvent>[] = [];
  let attempts = 0;
  app.post('/', async (request, reply) => {
    attempts++;
    if (options.hang) return new Promise(() => undefined);
    if (attempts <= (options.failures ?? 0)) return reply.code(options.status ?? 503).send('no');
    received.push(HTTP.toEvent({ headers: request.headers as Record<string, string>, body: request.body }));
    return reply.code(202).send();
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, received, attempts: () => attempts, close: () => app.close() };
}

async function until(check: () => boolean, ms = 10_000) {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return check();
}

test.serial(
  'decisions are published to DECISION_SINK_URL as binary CloudEvents, retried after failures',
  async (t) => {
    const sink = await receiver({ failures: 2 });
    const { DecisionSink } = await import('../src/sink.ts');
    const s = await inProcess({});
    const publisher = new DecisionSink({
      url: sink.url,
      maxBuffer: 100,
      maxRetries: 5,
      baseBackoffMs: 10,
      metrics: s.metrics,
    });
    try {
      const { buildApp } = await import('../src/app.ts');
      const app = buildApp({
        config: s.scorer.config,
        scorer: s.scorer,
        metrics: s.metrics,
        sink: publisher,
      });
      const tx = txs[0] as Record<string, unknown>;
      const res = await app.inject({ method: 'POST', url: '/score', payload: tx });
      t.is(res.statusCode, 200);
      t.true(await until(() => sink.received.length === 1), `received ${sink.received.length}`);
      t.is(sink.attempts(), 3);
      const event = sink.received[0] as unknown as {
        type: string;
        subject: string;
        partitionkey: string;
        data: { transaction_id: string };
      };
      t.is(event.type, 'dev.fraud.decision.v1');
      t.is(event.subject, tx.card_id as string);
      t.is(event.partitionkey, tx.card_id as string);
      t.is(event.data.transaction_id, tx.transaction_id as string);
      await app.close();
    } finally {
      await s.close();
      publisher.close();
      await sink.close();
    }
  },
);

test.serial('a sink that never answers does not delay replies; a full buffer drops and counts', async (t) => {
  const sink = await receiver({ hang: true });
  const { DecisionSink } = await import('../src/sink.ts');
  const { buildApp } = await import('../src/app.ts');
  const s = await inProcess({});
  const publisher = new DecisionSink({
    url: sink.url,
    maxBuffer: 3,
    maxRetries: 0,
    concurrency: 1,
    metrics: s.metrics,
  });
  const app = buildApp({ config: s.scorer.config, scorer: s.scorer, metrics: s.metrics, sink: publisher });
  const droppedBefore =
    metricValue((await app.inject('/metrics')).body, 'fraud_scorer_sink_events_total{outcome="dropped"}') ??
    0;
  try {
    const started = Date.now();
    const res = await app.inject({ method: 'POST', url: '/score', payload: txs.slice(0, 10) });
    t.is(res.statusCode, 200);
    t.true(
      Date.now() - started < 4000,
      'the reply does not wait for the sink (its sends time out after 5 s)',
    );
    const metrics = (await app.inject('/metrics')).body;
    t.is((metricValue(metrics, 'fraud_scorer_sink_events_total{outcome="dropped"}') ?? 0) - droppedBefore, 7);
    t.is(metricValue(metrics, 'fraud_scorer_sink_buffer_depth'), 3);
  } finally {
    await app.close();
    await s.close();
    publisher.close();
    await sink.close();
  }
});

test.serial('a 400 from the sink is not retried: counted as failed at once', async (t) => {
  const sink = await receiver({ failures: 100, status: 400 });
  const { DecisionSink } = await import('../src/sink.ts');
  const s = await inProcess({});
  const failed = () =>
    s.metrics.sinkEvents.get().then((m) => m.values.find((v) => v.labels.outcome === 'failed')?.value ?? 0);
  const before = await failed();
  const publisher = new DecisionSink({
    url: sink.url,
    maxBuffer: 10,
    maxRetries: 5,
    baseBackoffMs: 10,
    metrics: s.metrics,
  });
  try {
    publisher.publish([{ subject: 'c', partitionkey: 'c', data: { x: 1 } }]);
    await publisher.drain(5000);
    t.is(sink.attempts(), 1);
    t.is((await failed()) - before, 1);
  } finally {
    await s.close();
    publisher.close();
    await sink.close();
  }
});

test.serial(
  'DECISION_SINK_DELIVERY=before-reply: the reply waits for the sink, and a sink that fails gives 503 + Retry-After',
  async (t) => {
    const healthy = await receiver({ failures: 1 });
    const broken = await receiver({ failures: 100, status: 400 });
    const { DecisionSink } = await import('../src/sink.ts');
    const { buildApp } = await import('../src/app.ts');
    const s = await inProcess({ DECISION_SINK_DELIVERY: 'before-reply' });
    const appFor = (url: string) =>
      buildApp({
        config: s.scorer.config,
        scorer: s.scorer,
        metrics: s.metrics,
        sink: new DecisionSink({ url, maxBuffer: 100, maxRetries: 3, baseBackoffMs: 10, metrics: s.metrics }),
      });
    try {
      const tx = txs[1] as Record<string, unknown>;
      const ok = await appFor(healthy.url).inject({ method: 'POST', url: '/score', payload: tx });
      t.is(ok.statusCode, 200);
      // Already there when the reply arrives (after one retried failure), not some time later.
      t.is(healthy.received.length, 1);
      t.is(healthy.attempts(), 2);

      const event = HTTP.binary(
        new (await import('cloudevents')).CloudEvent({
          id: String(tx.transaction_id),
          source: '/test',
          type: 'dev.fraud.transaction.v1',
          subject: String(tx.card_id),
          datacontenttype: 'application/json',
          data: tx,
        }),
      );
      const failed = await appFor(broken.url).inject({
        method: 'POST',
        url: '/',
        headers: event.headers as Record<string, string>,
        payload: event.body as string,
      });
      t.is(failed.statusCode, 503);
      t.is(failed.headers['retry-after'], '1');
      t.regex(failed.json().error, /decision sink/);
    } finally {
      await s.close();
      await healthy.close();
      await broken.close();
    }
  },
);
