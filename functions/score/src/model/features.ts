// Feature mapping from the model card: the JSON Schema a transaction must satisfy for this model, and the
// encoder that writes one transaction into a float32 row in the card's feature order.
import type { Feature, ModelCard } from './card.ts';

/**
 * Transaction metadata the scorer accepts besides the features (copied from
 * packages/transactions/schema/transaction.schema.json, a test checks they stay equal: the function
 * folder is deployed alone, so it cannot import the workspace schema at run time).
 */
export const metadataProperties = {
  transaction_id: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:-]+$' },
  card_id: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:-]+$' },
  timestamp: { type: 'string', format: 'date-time' },
} as const;

export type Transaction = Record<string, unknown> & {
  transaction_id?: string;
  card_id?: string;
  timestamp?: string;
};

function featureSchema(f: Feature): Record<string, unknown> {
  switch (f.type) {
    case 'number':
    case 'integer': {
      const s: Record<string, unknown> = { type: f.type };
      if (f.minimum !== undefined && f.minimum !== null) s.minimum = f.minimum;
      if (f.maximum !== undefined && f.maximum !== null) s.maximum = f.maximum;
      return s;
    }
    case 'boolean':
      return { type: 'boolean' };
    case 'category':
      return { type: 'string', enum: f.categories };
  }
}

/** One transaction: every feature required, metadata optional, nothing else allowed. */
export function transactionSchema(card: ModelCard): Record<string, unknown> {
  const properties: Record<string, unknown> = { ...metadataProperties };
  for (const f of card.features) properties[f.name] = featureSchema(f);
  return {
    type: 'object',
    additionalProperties: false,
    required: card.features.map((f) => f.name),
    properties,
  };
}

export type RowEncoder = (tx: Transaction, out: Float32Array, offset: number) => void;

/** Writes features in card order; assumes the transaction passed transactionSchema (no checks here: hot path). */
export function rowEncoder(card: ModelCard): RowEncoder {
  const steps = card.features.map((f): ((tx: Transaction) => number) => {
    const name = f.name;
    if (f.type === 'boolean') return (tx) => (tx[name] === true ? 1 : 0);
    if (f.type === 'category') {
      const index = new Map(f.categories.map((c, i) => [c, i]));
      return (tx) => index.get(tx[name] as string) ?? -1;
    }
    return (tx) => tx[name] as number;
  });
  return (tx, out, offset) => {
    for (let i = 0; i < steps.length; i++) out[offset + i] = (steps[i] as (tx: Transaction) => number)(tx);
  };
}

/**
 * Checks one already-encoded value (the v2 tensor interface, where clients send encoded rows): returns
 * why it is out of the feature's domain, or undefined when fine.
 */
export function encodedValueProblem(f: Feature, v: number): string | undefined {
  if (!Number.isFinite(v)) return 'must be a finite number';
  switch (f.type) {
    case 'boolean':
      return v === 0 || v === 1 ? undefined : 'must be 0 or 1 (boolean)';
    case 'category':
      return Number.isInteger(v) && v >= 0 && v < f.categories.length
        ? undefined
        : `must be a category index from 0 to ${f.categories.length - 1}`;
    default:
      if (f.type === 'integer' && !Number.isInteger(v)) return 'must be an integer';
      if (f.minimum !== undefined && f.minimum !== null && v < f.minimum) return `must be >= ${f.minimum}`;
      if (f.maximum !== undefined && f.maximum !== null && v > f.maximum) return `must be <= ${f.maximum}`;
      return undefined;
  }
}
