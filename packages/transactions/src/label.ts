import { readFileSync } from 'node:fs';

// Ground-truth labels (docs/DESIGN.md "Labels"): the event the archive joins with what was scored.

/** CloudEvent type of a label. */
export const LABEL_TYPE = 'dev.fraud.label.v1';

/** Who can establish the truth, as in schema/label.schema.json. */
export const labelSources = ['chargeback', 'analyst', 'customer'] as const;
export type LabelSource = (typeof labelSources)[number];

/** CloudEvent `source` of each labeller (the labeller, not the label's `source` field). */
export const labellerSources = ['/attack-generator', '/chargebacks', '/analyst-console'] as const;

export interface Label {
  transaction_id: string;
  card_id: string;
  is_fraud: boolean;
  source: LabelSource;
  /** RFC 3339 */
  labeled_at: string;
}

/** The label JSON Schema (2020-12), packages/transactions/schema/label.schema.json. */
export const labelSchema = JSON.parse(
  readFileSync(new URL('../schema/label.schema.json', import.meta.url), 'utf8'),
) as { $id: string; required: string[]; properties: Record<string, Record<string, unknown>> };
