import test from 'ava';
import { generateTransactions, generatorSpec, type LabelledTransaction, patternNames } from '../src/index.ts';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const share = (rows: LabelledTransaction[], pick: (r: LabelledTransaction) => boolean) =>
  rows.filter(pick).length / rows.length;
const only = (pattern: string, count = 3000) => generateTransactions({ seed: 11, count, pattern });

test('the same seed gives the same rows; another seed gives other rows', (t) => {
  const a = generateTransactions({ seed: 5, count: 200 });
  t.deepEqual(generateTransactions({ seed: 5, count: 200 }), a);
  const b = generateTransactions({ seed: 6, count: 200 });
  t.true(a.filter((row, i) => row.amount === b[i]!.amount).length < 20);
});

test('transaction ids are unique and follow the id prefix', (t) => {
  const rows = generateTransactions({ seed: 3, count: 1000, idPrefix: 'attack-1' });
  t.is(new Set(rows.map((r) => r.transaction_id)).size, rows.length);
  t.true(rows.every((r, i) => r.transaction_id === `attack-1-${i}`));
});

test('the fraud ratio matches the default and an override, within 4 standard deviations', (t) => {
  const n = 40_000;
  for (const ratio of [generatorSpec.fraud_ratio, 0.2]) {
    const rows = generateTransactions({ seed: 99, count: n, fraudRatio: ratio });
    const observed = share(rows, (r) => r.is_fraud === 1);
    const sd = Math.sqrt((ratio * (1 - ratio)) / n);
    t.true(Math.abs(observed - ratio) < 4 * sd, `ratio ${ratio}: observed ${observed}`);
  }
});

test('labels agree with patterns and every fraud pattern occurs in its configured share', (t) => {
  const rows = generateTransactions({ seed: 8, count: 20_000, fraudRatio: 0.5 });
  t.true(rows.every((r) => (r.pattern === 'legit') === (r.is_fraud === 0)));
  const fraud = rows.filter((r) => r.is_fraud === 1);
  const weights = generatorSpec.fraud_pattern_weights;
  const total = Object.values(weights).reduce((a, b) => a + b, 0);
  for (const [name, weight] of Object.entries(weights)) {
    const observed = share(fraud, (r) => r.pattern === name);
    t.true(Math.abs(observed - weight / total) < 0.03, `${name}: ${observed}`);
  }
});

test('card testing: bursts of tiny card-not-present amounts at high velocity on new merchants', (t) => {
  const legit = only('legit');
  const ct = only('card_testing');
  t.true(ct.every((r) => r.amount <= 5));
  t.true(share(ct, (r) => !r.card_present) > 0.9);
  t.true(mean(ct.map((r) => r.velocity_1h)) > 5 * mean(legit.map((r) => r.velocity_1h)));
  t.true(share(ct, (r) => r.new_merchant) > 3 * share(legit, (r) => r.new_merchant));
  // Bursts: a small pool of tested cards, each seen many times.
  t.true(new Set(ct.map((r) => r.card_id)).size < ct.length / 5);
});

test('account takeover: large amounts far from home, abroad, at night, many times the usual amount', (t) => {
  const legit = only('legit');
  const ato = only('account_takeover');
  t.true(median(ato.map((r) => r.amount)) > 5 * median(legit.map((r) => r.amount)));
  t.true(median(ato.map((r) => r.amount_to_avg_ratio)) > 5 * median(legit.map((r) => r.amount_to_avg_ratio)));
  t.true(
    median(ato.map((r) => r.distance_from_home_km)) > 20 * median(legit.map((r) => r.distance_from_home_km)),
  );
  t.true(share(ato, (r) => r.foreign) > 5 * share(legit, (r) => r.foreign));
  const night = (r: LabelledTransaction) => r.hour < 6;
  t.true(share(ato, night) > 3 * share(legit, night));
});

test('merchant compromise: cloned cards used at terminals far from home', (t) => {
  const legit = only('legit');
  const mc = only('merchant_compromise');
  t.true(share(mc, (r) => r.card_present) > 0.75);
  t.true(
    median(mc.map((r) => r.distance_from_home_km)) > 10 * median(legit.map((r) => r.distance_from_home_km)),
  );
});

test('bust out is opt-in: the default mix never draws it; it looks local and familiar but busy', (t) => {
  t.false('bust_out' in generatorSpec.fraud_pattern_weights);
  const mixed = generateTransactions({ seed: 8, count: 20_000, fraudRatio: 0.5 });
  t.false(mixed.some((r) => r.pattern === 'bust_out'));
  const legit = only('legit');
  const bo = only('bust_out');
  t.true(bo.every((r) => r.is_fraud === 1));
  // What the bundled model learnt as fraud (abroad, far, new merchants, night) is absent...
  t.true(share(bo, (r) => r.foreign) <= 2 * share(legit, (r) => r.foreign));
  t.true(share(bo, (r) => r.new_merchant) < share(legit, (r) => r.new_merchant));
  t.true(
    median(bo.map((r) => r.distance_from_home_km)) < 3 * median(legit.map((r) => r.distance_from_home_km)),
  );
  // ...what gives it away is the pace and the size against the card's own average.
  t.true(mean(bo.map((r) => r.velocity_1h)) > 4 * mean(legit.map((r) => r.velocity_1h)));
  t.true(median(bo.map((r) => r.amount_to_avg_ratio)) > 2 * median(legit.map((r) => r.amount_to_avg_ratio)));
});

test('every pattern of generator.json can be generated alone', (t) => {
  for (const pattern of patternNames) {
    const rows = generateTransactions({ seed: 1, count: 20, pattern });
    t.true(rows.every((r) => r.pattern === pattern));
  }
});

test('bad options fail with a message naming the option', (t) => {
  t.throws(() => generateTransactions({ seed: 1, count: 1, pattern: 'nope' }), {
    message: /unknown pattern "nope"/,
  });
  t.throws(() => generateTransactions({ seed: -1, count: 1 }), { message: /seed must be an integer/ });
  t.throws(() => generateTransactions({ seed: 1.5, count: 1 }), { message: /seed must be an integer/ });
  t.throws(() => generateTransactions({ seed: 1, count: 1, fraudRatio: 1.5 }), { message: /fraudRatio/ });
  t.throws(() => generateTransactions({ seed: 1, count: 1, fraudRatio: Number.NaN }), {
    message: /fraudRatio/,
  });
  t.throws(() => generateTransactions({ seed: 1, count: -3 }), { message: /count must be/ });
});
