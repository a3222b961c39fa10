/** The bodies the hook accepts, validated by hand so every refusal names the field that was wrong. */

export type AirflowEvent =
  | {
      event_id: string;
      type: 'model_version.registered';
      model_name: string;
      version: string;
      dag_id?: string;
      dag_run_id?: string;
    }
  | {
      event_id: string;
      type: 'training.failed';
      dag_id: string;
      dag_run_id?: string;
      task_id?: string;
      error?: string;
    };

export type MlflowEvent = { entity: string; action: string; data: Record<string, unknown> };

export class BadRequestError extends Error {}

const ID = /^[A-Za-z0-9._:@+\-/]{1,200}$/;
const VERSION = /^[1-9]\d{0,9}$/;

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BadRequestError(`${what} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

function text(
  record: Record<string, unknown>,
  key: string,
  pattern: RegExp,
  required: boolean,
): string | undefined {
  const value = record[key];
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new BadRequestError(
      `${key} must be a string matching ${pattern.source} (got ${JSON.stringify(value)?.slice(0, 80)})`,
    );
  }
  return value;
}

const ANY = /^[\s\S]{0,4000}$/;

export function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch (error) {
    throw new BadRequestError(`body is not valid JSON: ${(error as Error).message}`);
  }
}

export function parseAirflowEvent(raw: unknown): AirflowEvent {
  const record = object(raw, 'body');
  const event_id = text(record, 'event_id', ID, true) as string;
  const type = record.type;
  if (type === 'model_version.registered') {
    const event: AirflowEvent = {
      event_id,
      type,
      model_name: text(record, 'model_name', ID, true) as string,
      version: text(record, 'version', VERSION, true) as string,
    };
    const dagId = text(record, 'dag_id', ID, false);
    const dagRunId = text(record, 'dag_run_id', ANY, false);
    if (dagId) event.dag_id = dagId;
    if (dagRunId) event.dag_run_id = dagRunId;
    return event;
  }
  if (type === 'training.failed') {
    const event: AirflowEvent = { event_id, type, dag_id: text(record, 'dag_id', ID, true) as string };
    const dagRunId = text(record, 'dag_run_id', ANY, false);
    const taskId = text(record, 'task_id', ID, false);
    const error = text(record, 'error', ANY, false);
    if (dagRunId) event.dag_run_id = dagRunId;
    if (taskId) event.task_id = taskId;
    if (error) event.error = error;
    return event;
  }
  throw new BadRequestError(
    `type must be "model_version.registered" or "training.failed" (got ${JSON.stringify(type)?.slice(0, 80)})`,
  );
}

export function parseMlflowEvent(raw: unknown): MlflowEvent {
  const record = object(raw, 'body');
  if (typeof record.entity !== 'string' || typeof record.action !== 'string') {
    throw new BadRequestError('entity and action must be strings');
  }
  return { entity: record.entity, action: record.action, data: object(record.data, 'data') };
}

/** The model version a model_version.created webhook is about. */
export function createdVersion(event: MlflowEvent): { name: string; version: string } {
  const name = text(event.data, 'name', ID, true) as string;
  const version = String(event.data.version ?? '');
  if (!VERSION.test(version))
    throw new BadRequestError(
      `data.version must be a positive integer (got ${JSON.stringify(event.data.version)?.slice(0, 40)})`,
    );
  return { name, version };
}
