import { createHmac, timingSafeEqual } from 'node:crypto';

/** Why a request was refused; each becomes a 401 and a label on fraud_retrain_unauthorized_requests_total. */
export type SignatureFailure = 'unsigned' | 'malformed' | 'stale' | 'bad_signature';

export type Verdict =
  | { ok: true; timestampSeconds: number }
  | { ok: false; reason: SignatureFailure; detail: string };

// Airflow callbacks: X-Fraud-Timestamp (unix seconds) and X-Fraud-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>.
export const AIRFLOW_TIMESTAMP_HEADER = 'x-fraud-timestamp';
export const AIRFLOW_SIGNATURE_HEADER = 'x-fraud-signature';
// MLflow webhooks (3.3+): X-MLflow-Signature: v1,<base64 HMAC-SHA256(secret, "<delivery_id>.<timestamp>.<body>")>.
export const MLFLOW_SIGNATURE_HEADER = 'x-mlflow-signature';
export const MLFLOW_TIMESTAMP_HEADER = 'x-mlflow-timestamp';
export const MLFLOW_DELIVERY_ID_HEADER = 'x-mlflow-delivery-id';

export function signAirflow(secret: string, timestamp: number | string, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export function signMlflow(
  secret: string,
  deliveryId: string,
  timestamp: number | string,
  body: string,
): string {
  return `v1,${createHmac('sha256', secret).update(`${deliveryId}.${timestamp}.${body}`).digest('base64')}`;
}

function sameBytes(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

function checkTimestamp(raw: string | undefined, windowSeconds: number, nowMs: number): Verdict {
  if (raw === undefined || raw === '')
    return { ok: false, reason: 'unsigned', detail: 'timestamp header missing' };
  if (!/^\d{1,12}$/.test(raw))
    return { ok: false, reason: 'malformed', detail: 'timestamp must be unix seconds' };
  const seconds = Number(raw);
  if (Math.abs(nowMs / 1000 - seconds) > windowSeconds) {
    return { ok: false, reason: 'stale', detail: `timestamp outside the ${windowSeconds} s replay window` };
  }
  return { ok: true, timestampSeconds: seconds };
}

const header = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

export function verifyAirflow(
  secret: string,
  headers: Record<string, string | string[] | undefined>,
  body: string,
  windowSeconds: number,
  nowMs = Date.now(),
): Verdict {
  const signature = header(headers[AIRFLOW_SIGNATURE_HEADER]);
  if (!signature)
    return { ok: false, reason: 'unsigned', detail: `${AIRFLOW_SIGNATURE_HEADER} header missing` };
  const timestamp = header(headers[AIRFLOW_TIMESTAMP_HEADER]);
  const time = checkTimestamp(timestamp, windowSeconds, nowMs);
  if (!time.ok) return time;
  if (!/^v1=[0-9a-f]{64}$/.test(signature)) {
    return {
      ok: false,
      reason: 'malformed',
      detail: `${AIRFLOW_SIGNATURE_HEADER} must be v1=<64 hex digits>`,
    };
  }
  if (!sameBytes(signature, signAirflow(secret, timestamp as string, body))) {
    return { ok: false, reason: 'bad_signature', detail: 'signature does not match the body' };
  }
  return time;
}

export function verifyMlflow(
  secret: string,
  headers: Record<string, string | string[] | undefined>,
  body: string,
  windowSeconds: number,
  nowMs = Date.now(),
): Verdict & { deliveryId?: string } {
  const signature = header(headers[MLFLOW_SIGNATURE_HEADER]);
  if (!signature)
    return { ok: false, reason: 'unsigned', detail: `${MLFLOW_SIGNATURE_HEADER} header missing` };
  const deliveryId = header(headers[MLFLOW_DELIVERY_ID_HEADER]);
  if (!deliveryId || deliveryId.length > 200) {
    return {
      ok: false,
      reason: 'malformed',
      detail: `${MLFLOW_DELIVERY_ID_HEADER} header missing or too long`,
    };
  }
  const timestamp = header(headers[MLFLOW_TIMESTAMP_HEADER]);
  const time = checkTimestamp(timestamp, windowSeconds, nowMs);
  if (!time.ok) return time;
  if (!signature.startsWith('v1,')) {
    return { ok: false, reason: 'malformed', detail: `${MLFLOW_SIGNATURE_HEADER} must be v1,<base64>` };
  }
  if (!sameBytes(signature, signMlflow(secret, deliveryId, timestamp as string, body))) {
    return { ok: false, reason: 'bad_signature', detail: 'signature does not match the body' };
  }
  return { ...time, deliveryId };
}
