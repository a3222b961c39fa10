import type { GatePolicy } from './policy.ts';

/**
 * Run metrics the DAG logs for a candidate (see docs/DESIGN.md, "Gate inputs"). The champion's
 * figures come from scoring the champion on the same holdout in the same run, so they compare fairly.
 */
export const GATE_METRICS = {
  prAuc: 'pr_auc',
  recall: 'recall_at_target_precision',
  championPrAuc: 'champion_pr_auc',
  championRecall: 'champion_recall_at_target_precision',
  latencyP95: 'onnx_latency_p95_ms',
  parity: 'parity_passed',
  validation: 'validation_passed',
} as const;

export interface GateDecision {
  passed: boolean;
  /** Every failed check, one sentence each; empty when passed. */
  reasons: string[];
  /** Checks that passed or were not applicable, for the audit trail. */
  notes: string[];
}

const fmt = (n: number) => Number(n.toPrecision(4)).toString();

/** Pure: the same metrics and policy always give the same decision. */
export function decide(metrics: Record<string, number>, policy: GatePolicy): GateDecision {
  const reasons: string[] = [];
  const notes: string[] = [];
  const need = (name: string): number | undefined => {
    const value = metrics[name];
    if (value === undefined || !Number.isFinite(value)) {
      reasons.push(`metric ${name} missing from the training run`);
      return undefined;
    }
    return value;
  };

  const prAuc = need(GATE_METRICS.prAuc);
  if (prAuc !== undefined && prAuc < policy.min_pr_auc) {
    reasons.push(`pr_auc ${fmt(prAuc)} below the minimum ${policy.min_pr_auc}`);
  }
  const recall = need(GATE_METRICS.recall);
  if (recall !== undefined && recall < policy.min_recall_at_target_precision) {
    reasons.push(
      `recall_at_target_precision ${fmt(recall)} below the minimum ${policy.min_recall_at_target_precision}`,
    );
  }
  const latency = need(GATE_METRICS.latencyP95);
  if (latency !== undefined && latency > policy.max_p95_latency_ms) {
    reasons.push(`onnx p95 latency ${fmt(latency)} ms above the maximum ${policy.max_p95_latency_ms} ms`);
  }
  if (policy.require_parity) {
    const parity = need(GATE_METRICS.parity);
    if (parity !== undefined && parity !== 1) reasons.push('ONNX parity check failed');
  }
  if (policy.require_data_validation) {
    const validation = need(GATE_METRICS.validation);
    if (validation !== undefined && validation !== 1) reasons.push('data validation failed');
  }

  const championPrAuc = metrics[GATE_METRICS.championPrAuc];
  const championRecall = metrics[GATE_METRICS.championRecall];
  if (championPrAuc === undefined && championRecall === undefined) {
    notes.push('no champion to compare with');
  } else {
    if (prAuc !== undefined && championPrAuc !== undefined) {
      const drop = championPrAuc - prAuc;
      if (drop > policy.max_regression.pr_auc) {
        reasons.push(
          `pr_auc ${fmt(prAuc)} regresses ${fmt(drop)} against the champion's ${fmt(championPrAuc)} (max ${policy.max_regression.pr_auc})`,
        );
      }
    }
    if (recall !== undefined && championRecall !== undefined) {
      const drop = championRecall - recall;
      if (drop > policy.max_regression.recall_at_target_precision) {
        reasons.push(
          `recall_at_target_precision ${fmt(recall)} regresses ${fmt(drop)} against the champion's ${fmt(championRecall)} (max ${policy.max_regression.recall_at_target_precision})`,
        );
      }
    }
  }
  return { passed: reasons.length === 0, reasons, notes };
}
