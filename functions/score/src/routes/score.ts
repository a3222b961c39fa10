// POST /score: plain JSON, one transaction → one decision, an array → an array of decisions.
import type { FastifyInstance } from 'fastify';
import type { Transaction } from '../model/features.ts';
import { ClientError, describeErrors } from '../validation.ts';
import { observeEventAge, publishDecisions, type RouteContext } from './context.ts';

export function scoreRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.post('/score', { config: { metricRoute: 'score' } }, async (request) => {
    const model = ctx.scorer.requireModel();
    const body = request.body;
    if (!model.validateScoreBody(body))
      throw new ClientError(400, describeErrors(model.validateScoreBody.errors, 'body'));
    const transactions = Array.isArray(body) ? body : [body as Transaction];
    const decisions = await ctx.scorer.decide(transactions);
    ctx.metrics.rows.inc({ route: 'score' }, transactions.length);
    for (const tx of transactions) observeEventAge(ctx.metrics, tx.timestamp);
    await publishDecisions(
      ctx,
      decisions.map((d) => ({
        subject: d.card_id ?? undefined,
        partitionkey: d.card_id ?? undefined,
        data: d,
      })),
    );
    return Array.isArray(body) ? decisions : decisions[0];
  });
}
