// Builds the fastify server: content types, error bodies, per-route metrics and every interface's routes.
import { readFileSync } from 'node:fs';
import Fastify, { type FastifyError, type FastifyInstance, LogController } from 'fastify';
import type { ScorerConfig } from './config.ts';
import type { Outcome, Route, ScorerMetrics } from './metrics.ts';
import { BATCH, cloudEventRoutes, STRUCTURED } from './routes/cloudevents.ts';
import type { RouteContext } from './routes/context.ts';
import { healthRoutes } from './routes/health.ts';
import { scoreRoutes } from './routes/score.ts';
import { v2Routes } from './routes/v2.ts';
import type { Scorer } from './scorer.ts';
import type { DecisionSink } from './sink.ts';
import { ClientError } from './validation.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    metricRoute?: Route;
  }
  interface FastifyRequest {
    startedAt?: bigint;
  }
}

export const packageVersion = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

function outcomeOf(status: number): Outcome {
  if (status < 400) return 'ok';
  if (status === 429) return 'rejected';
  if (status === 503) return 'not_ready';
  if (status < 500) return 'invalid';
  return 'error';
}

export interface AppOptions {
  config: ScorerConfig;
  scorer: Scorer;
  metrics: ScorerMetrics;
  sink?: DecisionSink;
  logger?: boolean;
}

export function buildApp(options: AppOptions): FastifyInstance {
  const { config, metrics } = options;
  const app = Fastify({
    bodyLimit: config.bodyLimitBytes,
    logger: options.logger ? { level: config.logLevel } : false,
    // Per-request log lines cost more than scoring a row; metrics cover requests.
    logController: new LogController({ disableRequestLogging: true }),
    // Knative's queue-proxy keeps connections alive; on SIGTERM close() answers new requests 503 and waits.
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    keepAliveTimeout: 75_000,
  });
  const ctx: RouteContext = { config, scorer: options.scorer, metrics, sink: options.sink };

  const json = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser([STRUCTURED, BATCH], { parseAs: 'string' }, json);

  // Callback-style hooks: no promise per request on the hot path.
  app.addHook('onRequest', (request, _reply, done) => {
    request.startedAt = process.hrtime.bigint();
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.config.metricRoute;
    if (route && request.startedAt !== undefined)
      metrics.observeRequest(
        route,
        outcomeOf(reply.statusCode),
        Number(process.hrtime.bigint() - request.startedAt) / 1e9,
      );
    done();
  });

  app.addHook('onSend', (_request, reply, payload, done) => {
    if (options.scorer.draining) reply.header('connection', 'close');
    done(null, payload);
  });

  app.setErrorHandler((error: FastifyError | ClientError, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
    // A v2 route may have set octet-stream before failing: errors are JSON (see the onSend hook below).
    reply.header('content-type', 'application/json');
    if (error instanceof ClientError) for (const [k, v] of Object.entries(error.headers)) reply.header(k, v);
    if (status >= 500 && status !== 503) {
      request.log.error({ err: error }, 'request failed');
      return reply.code(status).send({ error: `internal error: ${error.message}` });
    }
    return reply.code(status).send({ error: error.message });
  });
  // Error bodies as exactly `application/json`: KServe's REST client shows the server's error text only for
  // that header value, and fastify appends `; charset=utf-8` (JSON is UTF-8 by definition, RFC 8259).
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (reply.statusCode >= 400 && reply.getHeader('content-type') === 'application/json; charset=utf-8')
      reply.header('content-type', 'application/json');
    done(null, payload);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: `no route ${request.method} ${request.url.split('?')[0]}` }),
  );

  healthRoutes(app, ctx);
  scoreRoutes(app, ctx);
  cloudEventRoutes(app, ctx);
  // The v2 binary tensor extension sends raw bytes, often with no content type (tritonclient): only the v2
  // routes take those, as buffers.
  void app.register(async (v2) => {
    v2.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    v2Routes(v2, ctx, packageVersion);
  });
  return app;
}
