import type { ScorerConfig } from '../config.ts';
import type { ScorerMetrics } from '../metrics.ts';
import type { Scorer } from '../scorer.ts';
import type { DecisionEvent, DecisionSink } from '../sink.ts';
import { ClientError } from '../validation.ts';

/** What every route needs. */
export interface RouteContext {
  config: ScorerConfig;
  scorer: Scorer;
  metrics: ScorerMetrics;
  sink: DecisionSink | undefined;
}

/**
 * Hands decisions to the sink. In `before-reply` mode the request waits until the sink has them and fails
 * with 503 + Retry-After otherwise, so the caller (the KafkaSource) redelivers instead of the decision being
 * lost; a redelivery may produce a duplicate decision, never a missing one.
 */
export async function publishDecisions(ctx: RouteContext, events: DecisionEvent[]): Promise<void> {
  if (!ctx.sink) return;
  const delivered = ctx.sink.publish(events);
  if (ctx.config.decisionSinkDelivery !== 'before-reply') return;
  if (!(await delivered))
    throw new ClientError(503, 'the decision could not be published to the decision sink; retry', {
      'retry-after': '1',
    });
}

/** Observes now − eventTime (seconds) when the time parses; clock skew into the future counts as 0. */
export function observeEventAge(metrics: ScorerMetrics, time: unknown): void {
  if (typeof time !== 'string') return;
  const t = Date.parse(time);
  if (Number.isFinite(t)) metrics.eventAge.observe(Math.max(0, (Date.now() - t) / 1000));
}
