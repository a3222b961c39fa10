import { readFileSync } from 'node:fs';

/** The promotion gate: what a candidate must show on the holdout before it may serve any traffic. */
export interface GatePolicy {
  min_pr_auc: number;
  min_recall_at_target_precision: number;
  /** Largest allowed drop against the champion scored on the same holdout. */
  max_regression: { pr_auc: number; recall_at_target_precision: number };
  max_p95_latency_ms: number;
  require_parity: boolean;
  require_data_validation: boolean;
}

/** The canary: how much traffic, for how long, and what the candidate revision must not exceed. */
export interface CanaryPolicy {
  traffic_percent: number;
  ready_timeout_seconds: number;
  observation_seconds: number;
  poll_seconds: number;
  max_error_rate: number;
  max_p95_latency_ms: number;
  /** No canary requests observed in the window counts as a failure. */
  require_traffic: boolean;
}

export interface Policy {
  gate: GatePolicy;
  canary: CanaryPolicy;
}

type Check = (value: unknown) => string | undefined;
const num =
  (min: number, max: number): Check =>
  (v) =>
    typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max
      ? undefined
      : `a number in [${min}, ${max}]`;
const bool: Check = (v) => (typeof v === 'boolean' ? undefined : 'true or false');

const gateFields: Record<string, Check> = {
  min_pr_auc: num(0, 1),
  min_recall_at_target_precision: num(0, 1),
  max_p95_latency_ms: num(0, 60_000),
  require_parity: bool,
  require_data_validation: bool,
};
const regressionFields: Record<string, Check> = { pr_auc: num(0, 1), recall_at_target_precision: num(0, 1) };
const canaryFields: Record<string, Check> = {
  traffic_percent: num(1, 99),
  ready_timeout_seconds: num(1, 3600),
  observation_seconds: num(0, 86_400),
  poll_seconds: num(0.1, 3600),
  max_error_rate: num(0, 1),
  max_p95_latency_ms: num(0, 60_000),
  require_traffic: bool,
};

function checkObject(value: unknown, fields: Record<string, Check>, where: string, errors: string[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    errors.push(`${where} must be an object`);
    return;
  }
  const record = value as Record<string, unknown>;
  for (const [key, check] of Object.entries(fields)) {
    const problem = check(record[key]);
    if (problem) errors.push(`${where}.${key} must be ${problem} (got ${JSON.stringify(record[key])})`);
  }
  for (const key of Object.keys(record)) {
    if (!(key in fields) && !(where === 'gate' && key === 'max_regression'))
      errors.push(`${where}.${key} is unknown`);
  }
}

/** Validates a parsed policy; returns every problem at once so a bad file is fixed in one go. */
export function parsePolicy(value: unknown): Policy {
  const errors: string[] = [];
  const root = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  checkObject(root.gate, gateFields, 'gate', errors);
  if (typeof root.gate === 'object' && root.gate !== null) {
    checkObject(
      (root.gate as Record<string, unknown>).max_regression,
      regressionFields,
      'gate.max_regression',
      errors,
    );
  }
  checkObject(root.canary, canaryFields, 'canary', errors);
  for (const key of Object.keys(root))
    if (key !== 'gate' && key !== 'canary') errors.push(`${key} is unknown`);
  if (errors.length > 0) throw new Error(`invalid policy: ${errors.join('; ')}`);
  return root as unknown as Policy;
}

export function loadPolicy(file: string): Policy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read the policy file ${file}: ${(error as Error).message}`);
  }
  try {
    return parsePolicy(JSON.parse(text));
  } catch (error) {
    throw new Error(`${file}: ${(error as Error).message}`);
  }
}
