import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { signAirflow, signMlflow } from '../../src/signatures.ts';

// Random per test process: the hook under test and the signing helpers share them in memory.
export const AIRFLOW_SECRET = randomBytes(24).toString('hex');
export const MLFLOW_SECRET = randomBytes(24).toString('hex');
export const now = () => Math.floor(Date.now() / 1000);

/** Headers and body of a correctly signed Airflow callback. */
export function airflowRequest(payload: unknown, options: { timestamp?: number; secret?: string } = {}) {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const timestamp = options.timestamp ?? now();
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'x-fraud-timestamp': String(timestamp),
      'x-fraud-signature': signAirflow(options.secret ?? AIRFLOW_SECRET, timestamp, body),
    },
  };
}

export function mlflowRequest(payload: unknown, options: { timestamp?: number; deliveryId?: string } = {}) {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const timestamp = options.timestamp ?? now();
  const deliveryId = options.deliveryId ?? randomUUID();
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'x-mlflow-timestamp': String(timestamp),
      'x-mlflow-delivery-id': deliveryId,
      'x-mlflow-signature': signMlflow(MLFLOW_SECRET, deliveryId, timestamp, body),
    },
  };
}

export const registered = (version: string, eventId: string = randomUUID()) => ({
  event_id: eventId,
  type: 'model_version.registered',
  model_name: 'fraud-detector',
  version,
  dag_id: 'fraud_retrain',
});

/** A signed `model_version.registered` callback for `version`, injected into the hook's app. */
export function injectRegistered(app: FastifyInstance, version: string) {
  const request = airflowRequest(registered(version));
  return app.inject({
    method: 'POST',
    url: '/airflow/events',
    payload: request.body,
    headers: request.headers,
  });
}
