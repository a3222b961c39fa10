import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { AirflowClient, AirflowRefusedError } from './airflow.ts';
import { checkBearer, firingAlerts, parseAlertNotification, retrainRunId } from './alerts.ts';
import type { AlertTriggerConfig } from './config.ts';
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
import { countAndLogRetries, UnavailableError, withRetry } from './retry.ts';
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
  /** Alertmanager → Airflow trigger; without it POST /alertmanager/webhook answers 404. */
  alerting?: AlertTriggerConfig;
  retry?: { baseMs: number; maxMs: number };
}

const RETRY_AFTER_SECONDS = '30';

function outcomeReply(reply: FastifyReply, outcome: Outcome) {
  switch (outcome.kind) {
    case 'started':
      return reply.code(202).send({ decision: 'passed', rollout: 'started', ...outcome });
    case 'promoted':
      // ROLLOUT_TARGET=none: decided and done (champion moved in MLflow), so 200 rather than 202.
      return reply.code(200).send({ decision: 'passed', rollout: 'promoted', ...outcome });
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
    // Airflow answered but refused (credentials, unknown DAG, params): a 502 names it, and Alertmanager retries.
    if (error instanceof AirflowRefusedError) return reply.code(502).send({ error: error.message });
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

  const alerting = o.alerting;
  const airflow = alerting
    ? new AirflowClient({
        baseUrl: alerting.airflowUrl,
        username: alerting.airflowUsername,
        password: alerting.airflowPassword,
      })
    : undefined;
  app.post('/alertmanager/webhook', async (request, reply) => {
    if (!alerting || !airflow)
      return reply
        .code(404)
        .send({ error: 'the Alertmanager trigger is not enabled (ALERTMANAGER_BEARER_TOKEN unset)' });
    const auth = checkBearer(alerting.bearerToken, request.headers.authorization);
    if (!auth.ok) return refuse(reply, 'alertmanager', auth);
    const notification = parseAlertNotification(parseJson(bodyOf(request)));
    const firing = firingAlerts(notification, alerting.alertNames);
    if (firing.length === 0) {
      o.metrics.alertTriggers.inc({ outcome: 'ignored' });
      return reply.code(200).send({ ignored: `no firing ${alerting.alertNames.join('/')} alert` });
    }
    o.metrics.events.inc({ endpoint: 'alertmanager', type: firing[0]!.labels.alertname ?? 'unknown' });
    const runId = retrainRunId(notification.groupKey, firing);
    const answer = { dag_id: alerting.dagId, dag_run_id: runId };
    // Repeats of the same firing are answered here without calling Airflow; across restarts and
    // replicas, Airflow's unique run id (409) does the same.
    const claim = seen.claim(`alertmanager:${runId}`);
    if (claim !== 'new') {
      o.metrics.alertTriggers.inc({ outcome: 'duplicate' });
      return reply.code(200).send({ duplicate: true, status: claim, ...answer });
    }
    try {
      const alerts = firing.map(
        (a) => `${a.labels.alertname}${a.labels.version ? ` v${a.labels.version}` : ''}`,
      );
      const result = await withRetry(
        () =>
          airflow.triggerDagRun(
            alerting.dagId,
            runId,
            alerting.dagConf,
            `retrain-hook: ${[...new Set(alerts)].join(', ')} firing since ${firing[0]!.startsAt}`,
          ),
        {
          attempts: alerting.airflowRetryAttempts,
          baseMs: o.retry?.baseMs ?? 250,
          maxMs: o.retry?.maxMs ?? 10_000,
          onRetry: countAndLogRetries(
            o.metrics.dependencyErrors,
            request.log,
            'Airflow unavailable, retrying',
          ),
        },
      );
      seen.complete(`alertmanager:${runId}`);
      if (!result.created) {
        o.metrics.alertTriggers.inc({ outcome: 'duplicate' });
        return reply.code(200).send({ duplicate: true, status: 'exists', ...answer });
      }
      o.metrics.alertTriggers.inc({ outcome: 'triggered' });
      request.log.info({ ...answer, alerts }, 'retraining triggered by an alert');
      return reply.code(202).send({ triggered: true, state: result.state, ...answer });
    } catch (error) {
      // Not remembered: Alertmanager retries a 5xx, and the next attempt must try Airflow again.
      seen.release(`alertmanager:${runId}`);
      o.metrics.alertTriggers.inc({ outcome: 'failed' });
      if (error instanceof UnavailableError) o.metrics.dependencyErrors.inc({ dependency: 'airflow' });
      throw error;
    }
  });

  app.get('/status', async () => ({ rollout: o.rollout.current ?? null }));
  app.get('/metrics', async (_request, reply) =>
    reply.header('content-type', o.metrics.registry.contentType).send(await o.metrics.registry.metrics()),
  );
  app.get('/health/liveness', async () => ({ status: 'ok' }));
  app.get('/health/readiness', async () => ({ status: 'ok' }));
  return app;
}
