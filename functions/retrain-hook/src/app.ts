import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { SeenEvents } from './dedupe.ts';
import {
  type AirflowEvent,
  BadRequestError,
  createdVersion,
  parseAirflowEvent,
  parseJson,
  parseMlflowEvent,
} from './events.ts';
import type { HookMetrics } from './metrics.ts';
import { UnavailableError } from './retry.ts';
import { type Outcome, type RolloutManager, VersionNotFoundError } from './rollout.ts';
import { type Verdict, verifyAirflow, verifyMlflow } from './signatures.ts';
import type { TrainingHistory } from './training-history.ts';

export interface AppOptions {
  rollout: RolloutManager;
  metrics: HookMetrics;
  /** Where a reported training failure is kept across restarts. */
  history: TrainingHistory;
  modelName: string;
  airflowSecret: string;
  /** Without it the MLflow webhook endpoint answers 404: webhooks are optional. */
  mlflowSecret: string | undefined;
  replayWindowSeconds: number;
  logLevel?: string;
  bodyLimitBytes?: number;
}

const RETRY_AFTER_SECONDS = '30';

function outcomeReply(reply: FastifyReply, outcome: Outcome) {
  switch (outcome.kind) {
    case 'started':
      return reply.code(202).send({ decision: 'passed', rollout: 'started', ...outcome });
    case 'rejected':
      return reply.code(200).send({ decision: 'rejected', ...outcome });
    case 'already_decided':
      return reply.code(200).send({ duplicate: true, ...outcome });
    case 'in_progress':
      return reply.code(202).send({ duplicate: true, ...outcome });
    case 'busy':
      // 429, not 409: both Airflow's caller and MLflow's webhook delivery retry it later.
      return reply
        .code(429)
        .header('retry-after', RETRY_AFTER_SECONDS)
        .send({
          error: `the rollout of version ${outcome.current} is in progress; one rollout at a time`,
          ...outcome,
        });
  }
}

export function buildApp(o: AppOptions): FastifyInstance {
  const app = Fastify({
    logger: { level: o.logLevel ?? 'info' },
    bodyLimit: o.bodyLimitBytes ?? 256 * 1024,
  });
  const seen = new SeenEvents(o.replayWindowSeconds * 2 * 1000);

  // Signatures cover the exact bytes sent, so every body is kept as a string and parsed after verification.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  app.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => {
    if (error instanceof BadRequestError) return reply.code(400).send({ error: error.message });
    if (error instanceof VersionNotFoundError) return reply.code(404).send({ error: error.message });
    if (error instanceof UnavailableError) {
      return reply
        .code(503)
        .header('retry-after', RETRY_AFTER_SECONDS)
        .send({ error: `${error.dependency} unavailable: ${error.message}` });
    }
    const status =
      error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) app.log.error({ err: error }, 'unexpected error');
    return reply.code(status).send({ error: status === 500 ? 'internal error' : error.message });
  });

  const refuse = (reply: FastifyReply, endpoint: string, verdict: Verdict & { ok: false }) => {
    o.metrics.unauthorized.inc({ endpoint, reason: verdict.reason });
    return reply.code(401).send({ error: `${verdict.reason}: ${verdict.detail}` });
  };
  const bodyOf = (request: FastifyRequest) => (typeof request.body === 'string' ? request.body : '');

  /** Runs `work` once per event id; a duplicate gets a 200 naming it, a 503 lets the sender retry. */
  async function once(id: string, reply: FastifyReply, work: () => Promise<unknown>) {
    const claim = seen.claim(id);
    if (claim !== 'new') return reply.code(200).send({ duplicate: true, event_id: id, status: claim });
    try {
      const result = await work();
      seen.complete(id);
      return result;
    } catch (error) {
      if (error instanceof UnavailableError) seen.release(id);
      else seen.complete(id);
      throw error;
    }
  }

  const checkModel = (name: string) => {
    if (name !== o.modelName)
      throw new BadRequestError(`this hook manages model ${o.modelName}, not ${name}`);
  };

  app.post('/airflow/events', async (request, reply) => {
    const body = bodyOf(request);
    const verdict = verifyAirflow(o.airflowSecret, request.headers, body, o.replayWindowSeconds);
    if (!verdict.ok) return refuse(reply, 'airflow', verdict);
    const event: AirflowEvent = parseAirflowEvent(parseJson(body));
    o.metrics.events.inc({ endpoint: 'airflow', type: event.type });
    return once(`airflow:${event.event_id}`, reply, async () => {
      if (event.type === 'training.failed') {
        const run = [event.dag_id, event.dag_run_id, event.task_id].filter(Boolean).join('/');
        void o.history.recordFailure(Date.now() / 1000, run);
        request.log.warn({ event }, 'Airflow reports a failed training run');
        return reply.code(202).send({ recorded: 'training.failed', event_id: event.event_id });
      }
      checkModel(event.model_name);
      o.metrics.lastTrainingSuccess.setToCurrentTime();
      return outcomeReply(reply, await o.rollout.handleVersion(event.version));
    });
  });

  app.post('/mlflow/webhooks', async (request, reply) => {
    if (!o.mlflowSecret)
      return reply.code(404).send({ error: 'MLflow webhooks are not enabled (MLFLOW_WEBHOOK_SECRET unset)' });
    const body = bodyOf(request);
    const verdict = verifyMlflow(o.mlflowSecret, request.headers, body, o.replayWindowSeconds);
    if (!verdict.ok) return refuse(reply, 'mlflow', verdict);
    const event = parseMlflowEvent(parseJson(body));
    o.metrics.events.inc({ endpoint: 'mlflow', type: `${event.entity}.${event.action}`.slice(0, 64) });
    return once(`mlflow:${verdict.deliveryId}`, reply, async () => {
      if (event.entity !== 'model_version' || event.action !== 'created') {
        return reply.code(200).send({ ignored: `${event.entity}.${event.action}` });
      }
      const { name, version } = createdVersion(event);
      checkModel(name);
      return outcomeReply(reply, await o.rollout.handleVersion(version));
    });
  });

  app.get('/status', async () => ({ rollout: o.rollout.current ?? null }));
  app.get('/metrics', async (_request, reply) =>
    reply.header('content-type', o.metrics.registry.contentType).send(await o.metrics.registry.metrics()),
  );
  app.get('/health/liveness', async () => ({ status: 'ok' }));
  app.get('/health/readiness', async () => ({ status: 'ok' }));
  return app;
}
