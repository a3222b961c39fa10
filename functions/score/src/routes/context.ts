import type { ScorerConfig } from '../config.ts';
import type { ScorerMetrics } from '../metrics.ts';
import type { Scorer } from '../scorer.ts';
import type { DecisionSink } from '../sink.ts';

/** What every route needs. */
export interface RouteContext {
  config: ScorerConfig;
  scorer: Scorer;
  metrics: ScorerMetrics;
  sink: DecisionSink | undefined;
}

/** Observes now − eventTime (seconds) when the time parses; clock skew into the future counts as 0. */
export function observeEventAge(metrics: ScorerMetrics, time: unknown): void {
  if (typeof time !== 'string') return;
  const t = Date.parse(time);
  if (Number.isFinite(t)) metrics.eventAge.observe(Math.max(0, (Date.now() - t) / 1000));
}
