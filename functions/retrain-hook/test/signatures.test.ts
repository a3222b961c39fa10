import test from 'ava';
import fc from 'fast-check';
import { signAirflow, signMlflow, verifyAirflow, verifyMlflow } from '../src/signatures.ts';

const secret = 'a-secret-of-enough-length';
const nowMs = 1_800_000_000_000;
const ts = String(nowMs / 1000);

test('a correctly signed Airflow body verifies; any change to body, timestamp or secret does not', (t) => {
  fc.assert(
    fc.property(fc.string(), fc.string({ minLength: 1 }), (body, extra) => {
      const headers = { 'x-fraud-timestamp': ts, 'x-fraud-signature': signAirflow(secret, ts, body) };
      t.true(verifyAirflow(secret, headers, body, 300, nowMs).ok);
      t.false(verifyAirflow(secret, headers, body + extra, 300, nowMs).ok);
      t.false(verifyAirflow(`${secret}x`, headers, body, 300, nowMs).ok);
      const shifted = { ...headers, 'x-fraud-timestamp': String(Number(ts) + 1) };
      t.false(verifyAirflow(secret, shifted, body, 300, nowMs).ok);
    }),
  );
});

test('Airflow signatures outside the replay window are stale even when correct', (t) => {
  for (const offset of [-301, 301, -100_000]) {
    const stamp = String(Number(ts) + offset);
    const headers = { 'x-fraud-timestamp': stamp, 'x-fraud-signature': signAirflow(secret, stamp, '{}') };
    const verdict = verifyAirflow(secret, headers, '{}', 300, nowMs);
    t.deepEqual(verdict.ok ? 'ok' : verdict.reason, 'stale', `offset ${offset}`);
  }
  const inside = String(Number(ts) - 299);
  t.true(
    verifyAirflow(
      secret,
      { 'x-fraud-timestamp': inside, 'x-fraud-signature': signAirflow(secret, inside, '{}') },
      '{}',
      300,
      nowMs,
    ).ok,
  );
});

test('arbitrary header values never verify and name a reason', (t) => {
  fc.assert(
    fc.property(
      fc.record({ 'x-fraud-timestamp': fc.option(fc.string()), 'x-fraud-signature': fc.option(fc.string()) }),
      fc.string(),
      (raw, body) => {
        const headers = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== null)) as Record<
          string,
          string
        >;
        const verdict = verifyAirflow(secret, headers, body, 300, nowMs);
        t.false(verdict.ok);
        if (!verdict.ok) t.true(['unsigned', 'malformed', 'stale', 'bad_signature'].includes(verdict.reason));
      },
    ),
  );
});

test('MLflow signatures cover delivery id, timestamp and body', (t) => {
  fc.assert(
    fc.property(fc.string(), fc.uuid(), fc.uuid(), (body, id, otherId) => {
      fc.pre(id !== otherId);
      const headers = {
        'x-mlflow-timestamp': ts,
        'x-mlflow-delivery-id': id,
        'x-mlflow-signature': signMlflow(secret, id, ts, body),
      };
      t.true(verifyMlflow(secret, headers, body, 300, nowMs).ok);
      t.false(verifyMlflow(secret, { ...headers, 'x-mlflow-delivery-id': otherId }, body, 300, nowMs).ok);
      t.false(verifyMlflow(secret, headers, `${body} `, 300, nowMs).ok);
    }),
  );
});
