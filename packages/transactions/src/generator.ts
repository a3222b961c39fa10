// Seeded synthetic transactions, driven by schema/generator.json. Row for row identical to
// airflow/fraud_training/synthetic.py: same PRNG, same draw order, same float operations. Each pattern's
// field specs are compiled once into closures so a row costs a few dozen PRNG steps and no parsing.
import { readFileSync } from 'node:fs';
import { detExp, Mulberry32, roundTo, standardNormal } from './prng.ts';
import type { LabelledTransaction, Transaction } from './schema.ts';

type Scalar = string | number | boolean;

export type FieldSpec =
  | { dist: 'categorical'; values: Scalar[]; weights: number[] }
  | { dist: 'bernoulli'; p: number }
  | { dist: 'uniform'; min: number; max: number; decimals?: number }
  | { dist: 'normal'; mean: number; sd: number; min?: number; max?: number; decimals?: number }
  | { dist: 'lognormal'; mu: number; sigma: number; min?: number; max?: number; decimals?: number }
  | { dist: 'poisson'; lambda: number; max?: number }
  | { dist: 'ratio'; numerator: string; denominator: string; min?: number; max?: number; decimals?: number }
  | { dist: 'switch'; on: string; cases: Record<string, FieldSpec>; default?: FieldSpec }
  | { dist: 'const'; value: Scalar };

export interface PatternSpec {
  description: string;
  cards: { offset: number; count: number };
  fields: Record<string, FieldSpec>;
}

export interface GeneratorSpec {
  version: number;
  prng: 'mulberry32';
  fraud_ratio: number;
  start_time: string;
  rows_per_day: number;
  fraud_pattern_weights: Record<string, number>;
  field_order: string[];
  patterns: Record<string, PatternSpec>;
}

/** schema/generator.json: distributions of legit traffic and of each fraud pattern. */
export const generatorSpec = JSON.parse(
  readFileSync(new URL('../schema/generator.json', import.meta.url), 'utf8'),
) as GeneratorSpec;

export const patternNames = Object.keys(generatorSpec.patterns);

type Row = Record<string, Scalar>;
type Sampler = (rng: Mulberry32, row: Row) => Scalar;

function finisher(spec: { min?: number; max?: number; decimals?: number }): (x: number) => number {
  const { min, max, decimals } = spec;
  return (x) => {
    let v = decimals === undefined ? x : roundTo(x, decimals);
    if (min !== undefined && v < min) v = min;
    if (max !== undefined && v > max) v = max;
    return v;
  };
}

function caseKey(value: Scalar): string {
  if (typeof value === 'boolean' || typeof value === 'string') return String(value);
  throw new Error(`switch on a number (${value}) is not supported (strings and booleans only)`);
}

/** Compiles a field spec to a sampler; the arithmetic mirrors sample() in synthetic.py step for step. */
export function compileField(spec: FieldSpec): Sampler {
  switch (spec.dist) {
    case 'categorical': {
      const { values, weights } = spec;
      // Running sums in list order: the same partial sums Python accumulates while it walks the list.
      let total = 0;
      for (const w of weights) total += w;
      const cumulative: number[] = [];
      let acc = 0;
      for (const w of weights) {
        acc += w;
        cumulative.push(acc);
      }
      const last = values[values.length - 1]!;
      return (rng) => {
        const target = rng.next() * total;
        for (let i = 0; i < cumulative.length; i++) if (target < cumulative[i]!) return values[i]!;
        return last;
      };
    }
    case 'bernoulli': {
      const { p } = spec;
      return (rng) => rng.next() < p;
    }
    case 'uniform': {
      const { min, max } = spec;
      const finish = finisher(spec);
      return (rng) => finish(min + rng.next() * (max - min));
    }
    case 'normal': {
      const { mean, sd } = spec;
      const finish = finisher(spec);
      return (rng) => finish(mean + sd * standardNormal(rng));
    }
    case 'lognormal': {
      const { mu, sigma } = spec;
      const finish = finisher(spec);
      return (rng) => finish(detExp(mu + sigma * standardNormal(rng)));
    }
    case 'poisson': {
      const limit = detExp(-spec.lambda);
      const max = spec.max ?? Number.POSITIVE_INFINITY;
      return (rng) => {
        let k = 0;
        let p = 1;
        do {
          k++;
          p *= rng.next();
        } while (p > limit);
        return Math.min(k - 1, max);
      };
    }
    case 'ratio': {
      const { numerator, denominator } = spec;
      const finish = finisher(spec);
      return (_rng, row) => finish((row[numerator] as number) / (row[denominator] as number));
    }
    case 'switch': {
      const cases = new Map(Object.entries(spec.cases).map(([k, v]) => [k, compileField(v)]));
      const fallback = spec.default ? compileField(spec.default) : undefined;
      const { on } = spec;
      return (rng, row) => {
        const value = row[on]!;
        const chosen = cases.get(caseKey(value)) ?? fallback;
        if (!chosen) throw new Error(`switch on ${on}: no case for ${JSON.stringify(value)} and no default`);
        return chosen(rng, row);
      };
    }
    case 'const': {
      const { value } = spec;
      return () => value;
    }
    default:
      throw new Error(`unknown distribution ${JSON.stringify((spec as { dist: unknown }).dist)}`);
  }
}

export interface StreamOptions {
  /** PRNG seed, an integer in [0, 2^32). */
  seed: number;
  /** Fraction of fraud rows (default: generator.json's fraud_ratio). Ignored when `pattern` is set. */
  fraudRatio?: number;
  /** Generate only this pattern (e.g. "card_testing" for an attack). */
  pattern?: string;
  /** transaction_id is `${idPrefix}-${index}`; default `tx-${seed}`. */
  idPrefix?: string;
  spec?: GeneratorSpec;
}

interface CompiledPattern {
  name: string;
  isFraud: 0 | 1;
  cardOffset: number;
  cardCount: number;
  samplers: Sampler[];
}

const pad2 = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0'));

/** A stateful source of labelled transactions; `next()` is cheap (no allocation beyond the row). */
export class TransactionSource {
  private readonly rng: Mulberry32;
  private readonly patterns: Map<string, CompiledPattern>;
  private readonly forced: CompiledPattern | undefined;
  private readonly pickFraud: Sampler;
  private readonly fraudRatio: number;
  private readonly fieldOrder: string[];
  private readonly startSeconds: number;
  private readonly rowsPerDay: number;
  private readonly idPrefix: string;
  private index = 0;
  private cachedDay = Number.NaN;
  private cachedDate = '';

  constructor(options: StreamOptions) {
    const spec = options.spec ?? generatorSpec;
    this.rng = new Mulberry32(options.seed);
    this.fraudRatio = options.fraudRatio ?? spec.fraud_ratio;
    if (!(this.fraudRatio >= 0 && this.fraudRatio <= 1)) {
      throw new RangeError(`fraudRatio must be within [0, 1], got ${options.fraudRatio}`);
    }
    this.fieldOrder = spec.field_order;
    this.patterns = new Map(
      Object.entries(spec.patterns).map(([name, p]) => {
        const missing = spec.field_order.filter((f) => !(f in p.fields));
        if (missing.length) throw new Error(`pattern ${name} lacks field(s) ${missing.join(', ')}`);
        return [
          name,
          {
            name,
            isFraud: name === 'legit' ? 0 : 1,
            cardOffset: p.cards.offset,
            cardCount: p.cards.count,
            samplers: spec.field_order.map((f) => compileField(p.fields[f]!)),
          },
        ];
      }),
    );
    if (options.pattern !== undefined) {
      this.forced = this.patterns.get(options.pattern);
      if (!this.forced) {
        throw new RangeError(
          `unknown pattern ${JSON.stringify(options.pattern)}; known: ${patternNames.join(', ')}`,
        );
      }
    }
    this.pickFraud = compileField({
      dist: 'categorical',
      values: Object.keys(spec.fraud_pattern_weights),
      weights: Object.values(spec.fraud_pattern_weights),
    });
    this.startSeconds = Date.parse(spec.start_time) / 1000;
    this.rowsPerDay = spec.rows_per_day;
    this.idPrefix = options.idPrefix ?? `tx-${options.seed}`;
  }

  /** RFC 3339 UTC without fractions; the date part is formatted once per day (Date#toISOString is slow). */
  private formatTimestamp(epoch: number): string {
    const day = Math.floor(epoch / 86400);
    if (day !== this.cachedDay) {
      this.cachedDay = day;
      this.cachedDate = new Date(day * 86400 * 1000).toISOString().slice(0, 11);
    }
    const secondOfDay = epoch - day * 86400;
    const h = Math.floor(secondOfDay / 3600);
    const m = Math.floor((secondOfDay % 3600) / 60);
    return `${this.cachedDate}${pad2[h]}:${pad2[m]}:${pad2[secondOfDay % 60]}Z`;
  }

  next(): LabelledTransaction {
    const rng = this.rng;
    let pattern = this.forced;
    if (!pattern) {
      const name = rng.next() < this.fraudRatio ? (this.pickFraud(rng, {}) as string) : 'legit';
      pattern = this.patterns.get(name)!;
    }
    const card = pattern.cardOffset + Math.floor(rng.next() * pattern.cardCount);
    const row: Row = {};
    for (let i = 0; i < this.fieldOrder.length; i++)
      row[this.fieldOrder[i]!] = pattern.samplers[i]!(rng, row);
    const hour = row.hour as number;
    const seconds = hour * 3600 + Math.floor(rng.next() * 3600);
    const day = Math.floor(this.index / this.rowsPerDay);
    const epoch = this.startSeconds + day * 86400 + seconds;
    const tx: LabelledTransaction = {
      transaction_id: `${this.idPrefix}-${this.index}`,
      card_id: `card-${String(card).padStart(7, '0')}`,
      timestamp: this.formatTimestamp(epoch),
      amount: row.amount as number,
      merchant_category: row.merchant_category as string,
      hour,
      card_present: row.card_present as boolean,
      distance_from_home_km: row.distance_from_home_km as number,
      velocity_1h: row.velocity_1h as number,
      amount_to_avg_ratio: row.amount_to_avg_ratio as number,
      new_merchant: row.new_merchant as boolean,
      foreign: row.foreign as boolean,
      is_fraud: pattern.isFraud,
      pattern: pattern.name,
    };
    this.index++;
    return tx;
  }
}

/** Endless labelled transactions (for the attack generator); identical to transaction_stream() in Python. */
export function* transactionStream(options: StreamOptions): Generator<LabelledTransaction, never, undefined> {
  const source = new TransactionSource(options);
  for (;;) yield source.next();
}

export interface GenerateOptions extends StreamOptions {
  count: number;
}

/** The first `count` rows of the stream. */
export function generateTransactions(options: GenerateOptions): LabelledTransaction[] {
  const { count } = options;
  if (!Number.isInteger(count) || count < 0)
    throw new RangeError(`count must be a non-negative integer, got ${count}`);
  const source = new TransactionSource(options);
  const rows: LabelledTransaction[] = new Array(count);
  for (let i = 0; i < count; i++) rows[i] = source.next();
  return rows;
}

/** Strips the label fields: what a producer actually sends. */
export function withoutLabels(row: LabelledTransaction): Transaction {
  const { is_fraud: _label, pattern: _pattern, ...tx } = row;
  return tx;
}
