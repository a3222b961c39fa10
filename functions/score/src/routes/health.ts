// Knative probes and Prometheus scraping.
import type { FastifyInstance } from 'fastify';
import type { RouteContext } from './context.ts';

export function healthRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get('/health/liveness', async () => ({ live: true }));
  // Ready only once the configured model is verified, loaded and warmed; otherwise say why.
  app.get('/health/readiness', async (_request, reply) => {
    if (ctx.scorer.isReady())
      return { ready: true, model: ctx.scorer.model?.info, reason: ctx.scorer.reason };
    return reply.code(503).header('retry-after', '1').send({ ready: false, reason: ctx.scorer.reason });
  });
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', ctx.metrics.registry.contentType);
    return ctx.metrics.registry.metrics();
  });
}
