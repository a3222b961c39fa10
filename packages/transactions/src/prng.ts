// The deterministic randomness shared with airflow/fraud_training/synthetic.py. Only IEEE-754 basic
// operations (+ - * /, floor) touch floats here, never Math.exp/log/cos: libm implementations differ in
// the last bit between V8 and CPython, basic operations do not. That keeps both generators bit-identical.

const LN2 = Math.LN2; // 0.6931471805599453, the literal synthetic.py uses
const TAYLOR_TERMS = 20;

/** mulberry32: 32-bit state, one Math.imul-based step per draw. */
export class Mulberry32 {
  private state: number;

  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new RangeError(`seed must be an integer in [0, 2^32), got ${seed}`);
    }
    this.state = seed >>> 0;
  }

  nextUint32(): number {
    const a = (this.state + 0x6d2b79f5) >>> 0;
    this.state = a;
    let t = Math.imul(a ^ (a >>> 15), 1 | a) >>> 0;
    t = ((t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t) >>> 0;
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  next(): number {
    return this.nextUint32() / 4294967296;
  }
}

/** exp(x) by range reduction to |r| <= ln2/2 and a fixed Taylor series; identical in Python. */
export function detExp(x: number): number {
  const k = Math.floor(x / LN2 + 0.5);
  const r = x - k * LN2;
  let term = 1;
  let total = 1;
  for (let i = 1; i < TAYLOR_TERMS; i++) {
    term = (term * r) / i;
    total += term;
  }
  let scale = 1;
  if (k > 0) for (let i = 0; i < k; i++) scale *= 2;
  else for (let i = 0; i < -k; i++) scale *= 0.5;
  return total * scale;
}

/** Irwin-Hall approximation of a standard normal: the sum of 12 uniforms minus 6 (tails cut at +-6). */
export function standardNormal(rng: Mulberry32): number {
  let s = 0;
  for (let i = 0; i < 12; i++) s += rng.next();
  return s - 6;
}

/** Half-up rounding to `decimals` places, the same operations as round_to() in Python. */
export function roundTo(x: number, decimals: number): number {
  const factor = 10 ** decimals;
  return Math.floor(x * factor + 0.5) / factor;
}
