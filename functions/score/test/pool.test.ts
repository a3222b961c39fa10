// The inference pool on its own: batching whole requests, the bounded queue, and a worker that dies.
import path from 'node:path';
import test from 'ava';
import { InferencePool, QueueFullError } from '../src/inference/pool.ts';
import { rowEncoder } from '../src/model/features.ts';
import { loadCard, requireModel } from './helpers/model.ts';
import { sampleTransactions } from './helpers/transactions.ts';

const card = loadCard();
const F = card.features.length;
const rows = sampleTransactions(card, 64, 3);
const encode = rowEncoder(card);
const encoded = (from: number, count: number) => {
  const out = new Float32Array(count * F);
  for (let i = 0; i < count; i++) encode(rows[from + i] as Record<string, unknown>, out, i * F);
  return out;
};

async function pool(
  options: { maxBatchSize?: number; maxQueue?: number; inline?: boolean; maxBatchWaitUs?: number } = {},
) {
  const batches: number[] = [];
  const p = new InferencePool({
    workers: 1,
    inline: options.inline,
    maxBatchSize: options.maxBatchSize ?? 256,
    maxBatchWaitUs: options.maxBatchWaitUs ?? 2000,
    maxQueue: options.maxQueue ?? 10_000,
    onBatch: (n) => batches.push(n),
  });
  await p.start({
    onnxPath: path.join(requireModel(), card.onnx.file),
    inputName: card.input.name,
    probabilitiesName: card.outputs.probabilities,
    positiveIndex: card.outputs.positive_index,
    featureCount: F,
    intraOpThreads: 1,
  });
  return { p, batches };
}

for (const inline of [false, true]) {
  const mode = inline ? 'inline' : 'workers';
  test(`${mode}: concurrent requests share runs, each gets its own rows back in order`, async (t) => {
    const { p, batches } = await pool({ maxBatchSize: 16, inline });
    try {
      const alone = await Promise.all(Array.from({ length: 8 }, (_, i) => p.score(encoded(i * 8, 8), 8)));
      const single = [];
      for (let i = 0; i < 64; i++) single.push((await p.score(encoded(i, 1), 1))[0]);
      t.deepEqual(
        alone.flatMap((s) => Array.from(s)),
        single,
      );
      t.true(
        batches.some((n) => n === 16),
        `batches ${batches.join(',')}`,
      );
      t.true(batches.every((n) => n <= 16));
    } finally {
      await p.close();
    }
  });

  if (!inline)
    test(`${mode}: beyond maxQueue rows, score() refuses with QueueFullError instead of queueing`, async (t) => {
      const { p } = await pool({ maxBatchSize: 8, maxQueue: 16, inline });
      try {
        const results = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) => p.score(encoded(i, 8), 8)),
        );
        const refused = results.filter((r) => r.status === 'rejected');
        t.true(refused.length > 0);
        for (const r of refused) t.true((r as PromiseRejectedResult).reason instanceof QueueFullError);
        t.true(results.some((r) => r.status === 'fulfilled'));
      } finally {
        await p.close();
      }
    });
}

test('inline: a full batch runs as it arrives, so the queue never holds more than one batch', async (t) => {
  // The event loop is the queue inline: requests wait unread in their sockets while a batch runs.
  const { p, batches } = await pool({ maxBatchSize: 8, maxQueue: 16, inline: true });
  try {
    const depths: number[] = [];
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => {
        const scored = p.score(encoded(i, 8), 8);
        depths.push(p.queueDepth);
        return scored;
      }),
    );
    t.true(results.every((r) => r.status === 'fulfilled'));
    t.deepEqual(depths, Array(20).fill(0));
    t.deepEqual(batches, Array(20).fill(8));
  } finally {
    await p.close();
  }
});

test('inline: no worker threads, same scores as a worker', async (t) => {
  const inline = await pool({ inline: true });
  const workers = await pool({ inline: false });
  try {
    t.is(inline.p.workers.length, 0);
    t.deepEqual(
      Array.from(await inline.p.score(encoded(0, 32), 32)),
      Array.from(await workers.p.score(encoded(0, 32), 32)),
    );
  } finally {
    await inline.p.close();
    await workers.p.close();
  }
});

test('inline: a batch is scored and settled at the setImmediate that follows its requests, not a turn later', async (t) => {
  // onnxruntime-node's public run() would defer to one more setImmediate: a reply would then leave only
  // after a callback queued behind the batch's own flush.
  const { p } = await pool({ inline: true, maxBatchWaitUs: 0 });
  try {
    const order: string[] = [];
    const scored = Promise.all([p.score(encoded(0, 1), 1), p.score(encoded(1, 1), 1)]).then((s) => {
      order.push('scored');
      return s;
    });
    const nextTurn = new Promise<void>((resolve) =>
      setImmediate(() => {
        order.push('setImmediate queued after the requests');
        resolve();
      }),
    );
    const [scores] = await Promise.all([scored, nextTurn]);
    t.deepEqual(order, ['scored', 'setImmediate queued after the requests']);
    t.is(scores.length, 2);
  } finally {
    await p.close();
  }
});

test('a worker that dies fails only its batch and is replaced', async (t) => {
  // A full batch (= maxBatchSize) is dispatched at once; 20,000 rows keep the worker busy for tens of
  // milliseconds, so the terminate lands while the batch is in flight (64 rows could finish first).
  const n = 20_000;
  const big = new Float32Array(n * F);
  const sample = encoded(0, 64);
  for (let i = 0; i < n; i += 64) big.set(sample.subarray(0, Math.min(64, n - i) * F), i * F);
  const { p } = await pool({ maxBatchSize: n, maxQueue: n });
  try {
    const inFlight = p.score(big, n);
    const [worker] = p.workers;
    await worker?.terminate();
    await t.throwsAsync(inFlight, { message: /inference worker exited/ });
    const after = await p.score(encoded(0, 4), 4);
    t.is(after.length, 4);
    t.not(p.workers[0], worker);
  } finally {
    await p.close();
  }
});
