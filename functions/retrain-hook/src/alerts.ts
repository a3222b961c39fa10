// Alertmanager webhook notifications (payload version 4) and the run id one alert firing maps to.
import { createHash, timingSafeEqual } from 'node:crypto';
import { BadRequestError } from './events.ts';

export interface NotifiedAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  startsAt: string;
  fingerprint: string | undefined;
}

export interface AlertNotification {
  groupKey: string;
  status: 'firing' | 'resolved';
  alerts: NotifiedAlert[];
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new BadRequestError(`${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

function status(value: unknown, what: string): 'firing' | 'resolved' {
  if (value !== 'firing' && value !== 'resolved')
    throw new BadRequestError(`${what} must be "firing" or "resolved" (got ${JSON.stringify(value)})`);
  return value;
}

function labels(value: unknown, what: string): Record<string, string> {
  const record = object(value, what);
  for (const [k, v] of Object.entries(record))
    if (typeof v !== 'string') throw new BadRequestError(`${what}.${k} must be a string`);
  return record as Record<string, string>;
}

export function parseAlertNotification(value: unknown): AlertNotification {
  const body = object(value, 'body');
  if (body.version !== '4')
    throw new BadRequestError(
      `version must be "4" (Alertmanager's webhook payload), got ${JSON.stringify(body.version)}`,
    );
  if (typeof body.groupKey !== 'string' || body.groupKey === '' || body.groupKey.length > 2000)
    throw new BadRequestError('groupKey must be a non-empty string (at most 2000 characters)');
  if (!Array.isArray(body.alerts)) throw new BadRequestError('alerts must be an array');
  if (body.alerts.length > 1000) throw new BadRequestError('alerts: at most 1000 per notification');
  const alerts = body.alerts.map((raw, i): NotifiedAlert => {
    const alert = object(raw, `alerts[${i}]`);
    const startsAt = alert.startsAt;
    if (typeof startsAt !== 'string' || Number.isNaN(Date.parse(startsAt)))
      throw new BadRequestError(`alerts[${i}].startsAt must be an RFC 3339 time`);
    if (alert.fingerprint !== undefined && typeof alert.fingerprint !== 'string')
      throw new BadRequestError(`alerts[${i}].fingerprint must be a string`);
    return {
      status: status(alert.status, `alerts[${i}].status`),
      labels: labels(alert.labels, `alerts[${i}].labels`),
      startsAt,
      fingerprint: alert.fingerprint as string | undefined,
    };
  });
  return { groupKey: body.groupKey, status: status(body.status, 'status'), alerts };
}

/** The firing alerts among `names`. */
export function firingAlerts(n: AlertNotification, names: readonly string[]): NotifiedAlert[] {
  return n.alerts.filter((a) => a.status === 'firing' && names.includes(a.labels.alertname ?? ''));
}

/**
 * One DAG run per firing of an alert group: the group key and the earliest start of its firing alerts.
 * Alertmanager's repeats (repeat_interval) and retries carry the same values, so they map to the same run id,
 * and Airflow refuses a second run with that id; a group that resolves and fires again starts later: a new run.
 */
export function retrainRunId(groupKey: string, firing: NotifiedAlert[]): string {
  const earliest = firing.map((a) => Date.parse(a.startsAt)).reduce((a, b) => Math.min(a, b));
  const start = new Date(earliest)
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replaceAll(':', '');
  const digest = createHash('sha256').update(`${groupKey}\n${earliest}`).digest('hex').slice(0, 12);
  return `alert__${start}__${digest}`;
}

/** Alertmanager's http_config.authorization sends `Authorization: Bearer <credentials file content>`. */
export function checkBearer(
  expected: string,
  header: string | string[] | undefined,
): { ok: true } | { ok: false; reason: 'unsigned' | 'malformed' | 'bad_signature'; detail: string } {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return { ok: false, reason: 'unsigned', detail: 'authorization header missing' };
  const match = /^Bearer (\S+)$/i.exec(value.trim());
  if (!match) return { ok: false, reason: 'malformed', detail: 'authorization must be "Bearer <token>"' };
  const got = createHash('sha256').update(match[1]!).digest();
  const want = createHash('sha256').update(expected.trim()).digest();
  if (!timingSafeEqual(got, want))
    return { ok: false, reason: 'bad_signature', detail: 'bearer token does not match' };
  return { ok: true };
}
