import test from 'ava';
import fc from 'fast-check';
import { detExp, Mulberry32, roundTo, standardNormal } from '../src/index.ts';

test('detExp agrees with Math.exp to a relative error below 1e-14 over the generator range', (t) => {
  fc.assert(
    fc.property(fc.double({ min: -20, max: 20, noNaN: true }), (x) => {
      const rel = Math.abs(detExp(x) - Math.exp(x)) / Math.exp(x);
      return rel < 1e-14;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('uniform draws stay in [0, 1) and spread evenly over ten bins', (t) => {
  const rng = new Mulberry32(123);
  const bins = new Array(10).fill(0);
  const n = 100_000;
  for (let i = 0; i < n; i++) {
    const u = rng.next();
    if (!(u >= 0 && u < 1)) t.fail(`draw ${u} outside [0, 1)`);
    bins[Math.floor(u * 10)]++;
  }
  for (const count of bins) t.true(Math.abs(count - n / 10) < 600, `bin count ${count}`);
});

test('standard normal draws have mean ~0 and sd ~1', (t) => {
  const rng = new Mulberry32(7);
  const xs = Array.from({ length: 50_000 }, () => standardNormal(rng));
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length);
  t.true(Math.abs(m) < 0.02, `mean ${m}`);
  t.true(Math.abs(sd - 1) < 0.02, `sd ${sd}`);
});

test('roundTo rounds half up to the given decimals (unlike banker rounding)', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 10_000_000 }), (cents) => {
      const x = cents / 100;
      return roundTo(x, 2) === x && roundTo(x + 0.004, 2) === x;
    }),
  );
  t.is(roundTo(2.5, 0), 3);
  t.is(roundTo(0.5, 0), 1);
});

test('seeds outside [0, 2^32) are refused', (t) => {
  t.throws(() => new Mulberry32(2 ** 32), { message: /seed must be an integer/ });
});
