import { readFileSync } from 'node:fs';

// The contract files, read once. JSON is parsed at run time (not imported) so the TypeScript types below
// stay the single description of their shape.
const read = (file: string): unknown =>
  JSON.parse(readFileSync(new URL(`../schema/${file}`, import.meta.url), 'utf8'));

export interface JsonSchemaProperty {
  type?: string;
  enum?: string[];
  minimum?: number;
  maximum?: number;
  'x-feature'?: 'number' | 'boolean' | 'category';
  [key: string]: unknown;
}

export interface TransactionSchema {
  $id: string;
  required: string[];
  properties: Record<string, JsonSchemaProperty>;
  [key: string]: unknown;
}

/** The transaction JSON Schema (2020-12), packages/transactions/schema/transaction.schema.json. */
export const transactionSchema = read('transaction.schema.json') as TransactionSchema;

export const merchantCategories = transactionSchema.properties.merchant_category?.enum ?? [];
export type MerchantCategory = string;

export interface Transaction {
  transaction_id: string;
  card_id: string;
  timestamp: string;
  amount: number;
  merchant_category: MerchantCategory;
  hour: number;
  card_present: boolean;
  distance_from_home_km: number;
  velocity_1h: number;
  amount_to_avg_ratio: number;
  new_merchant: boolean;
  foreign: boolean;
}

/** A generated row: a transaction plus its label fields, which are not part of the transaction. */
export interface LabelledTransaction extends Transaction {
  is_fraud: 0 | 1;
  pattern: string;
}

/** One model input column, shaped like a model-card `features` entry. */
export type FeatureSpec =
  | { name: string; type: 'number'; minimum?: number; maximum?: number; integer?: boolean }
  | { name: string; type: 'boolean' }
  | { name: string; type: 'category'; categories: string[] };

/** The schema's x-feature properties in schema order: the bundled model's input columns. */
export function schemaFeatures(schema: TransactionSchema = transactionSchema): FeatureSpec[] {
  const features: FeatureSpec[] = [];
  for (const [name, prop] of Object.entries(schema.properties)) {
    const kind = prop['x-feature'];
    if (kind === undefined) continue;
    if (kind === 'number') {
      features.push({
        name,
        type: 'number',
        minimum: prop.minimum,
        maximum: prop.maximum,
        ...(prop.type === 'integer' ? { integer: true } : {}),
      });
    } else if (kind === 'category') {
      features.push({ name, type: 'category', categories: [...(prop.enum ?? [])] });
    } else if (kind === 'boolean') {
      features.push({ name, type: 'boolean' });
    } else {
      throw new Error(`schema property ${name}: unknown x-feature ${String(kind)}`);
    }
  }
  return features;
}

/** One raw value as the model sees it: number as is, boolean 0/1, category its index in the list. */
export function encodeValue(value: unknown, feature: FeatureSpec): number {
  switch (feature.type) {
    case 'boolean':
      if (typeof value !== 'boolean')
        throw new TypeError(`${feature.name}: expected a boolean, got ${show(value)}`);
      return value ? 1 : 0;
    case 'category': {
      const index = typeof value === 'string' ? feature.categories.indexOf(value) : -1;
      if (index < 0) {
        throw new TypeError(
          `${feature.name}: expected one of ${feature.categories.join(', ')}, got ${show(value)}`,
        );
      }
      return index;
    }
    default:
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new TypeError(`${feature.name}: expected a finite number, got ${show(value)}`);
      }
      return value;
  }
}

/**
 * A transaction as the model's float32 input row, columns in `features` order (e.g. a model card's).
 * Pass `out` (and `offset`) to write into a preallocated batch buffer without allocating.
 */
export function toFeatureVector(
  tx: object,
  features: readonly FeatureSpec[] = defaultFeatures,
  out: Float32Array = new Float32Array(features.length),
  offset = 0,
): Float32Array {
  for (let i = 0; i < features.length; i++) {
    const feature = features[i]!;
    out[offset + i] = encodeValue((tx as Record<string, unknown>)[feature.name], feature);
  }
  return out;
}

const defaultFeatures = schemaFeatures();

function show(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}
