// The events an attack sends: transactions from the shared seeded generator (@fraud/transactions), either
// legit traffic with a fraud ratio or a weighted mix of patterns (card_testing bursts, account takeover, ...).
import {
  Mulberry32,
  patternNames,
  type Transaction,
  TransactionSource,
  withoutLabels,
} from '@fraud/transactions';
import { UsageError } from './args.mts';

export interface Payload {
  next(): { tx: Transaction; pattern: string; isFraud: boolean };
  /** Events sent per pattern. */
  readonly counts: Record<string, number>;
}

export function makePayload(options: {
  seed: number;
  fraudRatio: number;
  mix?: Record<string, number>;
  prefix: string;
}): Payload {
  const counts: Record<string, number> = {};
  if (!options.mix) {
    const source = new TransactionSource({
      seed: options.seed,
      fraudRatio: options.fraudRatio,
      idPrefix: options.prefix,
    });
    return {
      counts,
      next() {
        const row = source.next();
        counts[row.pattern] = (counts[row.pattern] ?? 0) + 1;
        return { tx: withoutLabels(row), pattern: row.pattern, isFraud: row.is_fraud === 1 };
      },
    };
  }
  const unknown = Object.keys(options.mix).filter((p) => !patternNames.includes(p));
  if (unknown.length) {
    throw new UsageError(
      `--mix: unknown pattern(s) ${unknown.join(', ')}; known: ${patternNames.join(', ')}`,
    );
  }
  const entries = Object.entries(options.mix).filter(([, w]) => w > 0);
  const total = entries.reduce((sum, [, w]) => sum + w, 0);
  // One source per pattern, ids unique across them: <prefix>-<pattern>-<n>.
  const sources = entries.map(([pattern, weight], i) => ({
    pattern,
    upTo: entries.slice(0, i + 1).reduce((s, [, w]) => s + w, 0) / total,
    source: new TransactionSource({
      seed: (options.seed + i) >>> 0,
      pattern,
      idPrefix: `${options.prefix}-${pattern}`,
    }),
    weight,
  }));
  const pick = new Mulberry32((options.seed ^ 0x5eed) >>> 0);
  return {
    counts,
    next() {
      const u = pick.next();
      const chosen =
        sources.find((s) => u < s.upTo) ?? (sources[sources.length - 1] as (typeof sources)[number]);
      counts[chosen.pattern] = (counts[chosen.pattern] ?? 0) + 1;
      const row = chosen.source.next();
      return { tx: withoutLabels(row), pattern: chosen.pattern, isFraud: row.is_fraud === 1 };
    },
  };
}
