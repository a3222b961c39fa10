// CloudEvents over HTTP as the KafkaSource delivers them (binary mode; structured mode accepted too), parsed
// by hand so every rejection names what was wrong. Three types: transactions, decisions and labels; each
// data is checked against its schema, card ids must be tokens (never a PAN), and the result is the row the
// store writes.
import { readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { looksLikePan } from './pan.ts';

export const TRANSACTION_TYPE = 'dev.fraud.transaction.v1';
export const DECISION_TYPE = 'dev.fraud.decision.v1';
export const LABEL_TYPE = 'dev.fraud.label.v1';
export const EVENT_TYPES = [TRANSACTION_TYPE, DECISION_TYPE, LABEL_TYPE] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** A rejected event: the status to answer and what was wrong. */
export class EventError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export interface TransactionRow {
  transaction_id: string;
  card_id: string;
  occurred_at: string;
  amount: number;
  payload: Record<string, unknown>;
}

export interface DecisionRow {
  transaction_id: string;
  card_id: string;
  model_name: string;
  model_version: string;
  model_sha256: string | null;
  fraud_probability: number;
  threshold: number;
  decision: 'fraud' | 'legit';
  decided_at: string;
}

export interface LabelRow {
  transaction_id: string;
  card_id: string;
  is_fraud: boolean;
  source: string;
  labeled_at: string;
}

export type ArchiveEvent =
  | { type: typeof TRANSACTION_TYPE; id: string; row: TransactionRow }
  | { type: typeof DECISION_TYPE; id: string; row: DecisionRow }
  | { type: typeof LABEL_TYPE; id: string; row: LabelRow };

const id = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:-]+$' };

// The transaction fields the archive indexes; the rest of the transaction is kept as received in payload
// (the scorer and the schema in packages/transactions own its shape; a test holds these fields equal).
const transactionSchema = {
  type: 'object',
  required: ['transaction_id', 'card_id', 'timestamp', 'amount'],
  properties: {
    transaction_id: id,
    card_id: id,
    timestamp: { type: 'string', format: 'date-time' },
    amount: { type: 'number', minimum: 0, maximum: 1_000_000 },
  },
};

// dev.fraud.decision.v1 as the scorer publishes it (docs/DESIGN.md, "Transactions").
const decisionSchema = {
  type: 'object',
  required: ['transaction_id', 'card_id', 'fraud_probability', 'decision', 'threshold', 'model'],
  properties: {
    transaction_id: id,
    card_id: id,
    fraud_probability: { type: 'number', minimum: 0, maximum: 1 },
    decision: { enum: ['fraud', 'legit'] },
    threshold: { type: 'number', minimum: 0, maximum: 1 },
    model: {
      type: 'object',
      required: ['name', 'version'],
      properties: {
        name: { type: 'string', minLength: 1, maxLength: 200 },
        version: { type: 'string', minLength: 1, maxLength: 200 },
        sha256: { type: 'string', maxLength: 64 },
      },
    },
  },
};

// The label schema of packages/transactions, copied into the folder (func deploy builds it alone).
const labelSchema = JSON.parse(readFileSync(new URL('../schema/label.schema.json', import.meta.url), 'utf8'));

const ajv = new Ajv2020({ allErrors: false, strict: false });
addFormats.default(ajv);
const validators: Record<EventType, ValidateFunction> = {
  [TRANSACTION_TYPE]: ajv.compile(transactionSchema),
  [DECISION_TYPE]: ajv.compile(decisionSchema),
  [LABEL_TYPE]: ajv.compile(labelSchema),
};

function describe(errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0];
  if (!e) return 'is invalid';
  const where = `data${e.instancePath.replaceAll('/', '.')}`;
  if (e.keyword === 'required')
    return `${where} must have ${(e.params as { missingProperty: string }).missingProperty}`;
  if (e.keyword === 'additionalProperties')
    return `${where} must not have ${(e.params as { additionalProperty: string }).additionalProperty}`;
  if (e.keyword === 'enum')
    return `${where} must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  return `${where} ${e.message}`;
}

const ATTRIBUTE_LIMIT = 1024;

function mediaType(header: unknown): string {
  return (typeof header === 'string' ? header : '').split(';')[0]?.trim().toLowerCase() ?? '';
}

function attribute(value: unknown, where: string, required: boolean): string | undefined {
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string' || value.length === 0)
    throw new EventError(400, `${where} must be a non-empty string`);
  if (value.length > ATTRIBUTE_LIMIT)
    throw new EventError(400, `${where} must be at most ${ATTRIBUTE_LIMIT} characters`);
  return value;
}

function decodeHeader(value: unknown): unknown {
  if (typeof value !== 'string' || !value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

interface Envelope {
  type: EventType;
  id: string;
  time?: string;
  data: unknown;
}

function envelope(get: (name: string) => unknown, where: (name: string) => string): Omit<Envelope, 'data'> {
  const specversion = get('specversion');
  if (specversion !== '1.0')
    throw new EventError(
      400,
      `${where('specversion')} must be "1.0", got ${JSON.stringify(specversion ?? null)}`,
    );
  const eventId = attribute(get('id'), where('id'), true) as string;
  attribute(get('source'), where('source'), true);
  const type = get('type');
  if (!EVENT_TYPES.includes(type as EventType)) {
    throw new EventError(
      400,
      `${where('type')} must be one of ${EVENT_TYPES.join(', ')}, got ${JSON.stringify(type ?? null)}`,
    );
  }
  const time = attribute(get('time'), where('time'), false);
  if (time !== undefined && !Number.isFinite(Date.parse(time)))
    throw new EventError(400, `${where('time')} must be an RFC 3339 timestamp`);
  const contentType = get('datacontenttype');
  if (contentType !== undefined && mediaType(contentType) !== 'application/json')
    throw new EventError(
      415,
      `${where('datacontenttype')} must be application/json, got ${JSON.stringify(contentType)}`,
    );
  return { type: type as EventType, id: eventId, time };
}

function parseJson(body: string, what: string): unknown {
  try {
    return JSON.parse(body);
  } catch (err) {
    throw new EventError(400, `${what} is not valid JSON: ${(err as Error).message}`);
  }
}

/** One CloudEvent from an HTTP request (headers lower-cased, body as text). */
export function parseHttpEvent(headers: Record<string, unknown>, body: string): ArchiveEvent {
  const contentType = mediaType(headers['content-type']);
  let env: Envelope;
  if (contentType === 'application/cloudevents+json') {
    const event = parseJson(body, 'the structured CloudEvent');
    if (typeof event !== 'object' || event === null || Array.isArray(event))
      throw new EventError(400, 'a structured CloudEvent must be a JSON object');
    const e = event as Record<string, unknown>;
    env = {
      ...envelope(
        (n) => e[n],
        (n) => `attribute ${n}`,
      ),
      data: e.data,
    };
    if (e.data === undefined && typeof e.data_base64 === 'string') {
      env.data = parseJson(Buffer.from(e.data_base64, 'base64').toString('utf8'), 'data_base64');
    }
  } else if (headers['ce-specversion'] !== undefined) {
    if (contentType !== 'application/json')
      throw new EventError(
        415,
        `content-type must be application/json in binary mode, got ${JSON.stringify(headers['content-type'] ?? null)}`,
      );
    env = {
      ...envelope(
        (n) => (n === 'datacontenttype' ? undefined : decodeHeader(headers[`ce-${n}`])),
        (n) => `header ce-${n}`,
      ),
      data: parseJson(body, 'the body'),
    };
  } else if (contentType === 'application/cloudevents-batch+json') {
    throw new EventError(
      415,
      'batched CloudEvents are not accepted: the KafkaSource delivers one event per request',
    );
  } else {
    throw new EventError(
      400,
      'not a CloudEvent: expected ce-* headers (binary mode) or content-type application/cloudevents+json',
    );
  }
  return toArchiveEvent(env);
}

function checkToken(field: string, value: string): void {
  if (looksLikePan(value)) {
    throw new EventError(
      422,
      `data.${field} looks like a card number (PAN): the archive stores card tokens only`,
    );
  }
}

function toArchiveEvent(env: Envelope): ArchiveEvent {
  const { data } = env;
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    throw new EventError(400, `the data of a ${env.type} event must be a JSON object`);
  const validate = validators[env.type];
  if (!validate(data)) throw new EventError(400, `${env.type}: ${describe(validate.errors)}`);
  const d = data as Record<string, unknown>;
  checkToken('card_id', d.card_id as string);
  switch (env.type) {
    case TRANSACTION_TYPE:
      return {
        type: env.type,
        id: env.id,
        row: {
          transaction_id: d.transaction_id as string,
          card_id: d.card_id as string,
          occurred_at: d.timestamp as string,
          amount: d.amount as number,
          payload: d,
        },
      };
    case DECISION_TYPE: {
      const model = d.model as { name: string; version: string; sha256?: string };
      return {
        type: env.type,
        id: env.id,
        row: {
          transaction_id: d.transaction_id as string,
          card_id: d.card_id as string,
          model_name: model.name,
          model_version: model.version,
          model_sha256: model.sha256 ? model.sha256 : null,
          fraud_probability: d.fraud_probability as number,
          threshold: d.threshold as number,
          decision: d.decision as 'fraud' | 'legit',
          // The decision's event time (the scorer stamps it when it publishes); else when it reached us.
          decided_at: env.time ?? new Date().toISOString(),
        },
      };
    }
    default:
      return {
        type: LABEL_TYPE,
        id: env.id,
        row: {
          transaction_id: d.transaction_id as string,
          card_id: d.card_id as string,
          is_fraud: d.is_fraud as boolean,
          source: d.source as string,
          labeled_at: d.labeled_at as string,
        },
      };
  }
}
