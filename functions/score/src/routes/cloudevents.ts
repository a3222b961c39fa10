// POST /: CloudEvents over HTTP (spec 1.0) in binary, structured and batched mode. Input type
// dev.fraud.transaction.v1 (data = one transaction); reply dev.fraud.decision.v1 in binary mode (a batch
// of structured decision events for a batch). Parsed by hand rather than with the SDK's HTTP.toEvent:
// every rejection needs a precise 4xx message, and this is the hot path.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { decodeHeaderValue, encodeHeaderValue } from '../ce-headers.ts';
import type { Transaction } from '../model/features.ts';
import type { Decision, ServedModel } from '../scorer.ts';
import { ClientError, describeErrors } from '../validation.ts';
import { observeEventAge, publishDecisions, type RouteContext } from './context.ts';

export const TRANSACTION_TYPE = 'dev.fraud.transaction.v1';
export const DECISION_TYPE = 'dev.fraud.decision.v1';
export const DECISION_SOURCE = '/score';
export const STRUCTURED = 'application/cloudevents+json';
export const BATCH = 'application/cloudevents-batch+json';

interface InputEvent {
  id: string;
  subject: string | undefined;
  partitionkey: string | undefined;
  time: string | undefined;
  data: unknown;
}

const ATTRIBUTE_LIMIT = 1024;

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

function attribute(value: unknown, where: string, required: boolean): string | undefined {
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string' || value.length === 0)
    throw new ClientError(400, `${where} must be a non-empty string`);
  if (value.length > ATTRIBUTE_LIMIT)
    throw new ClientError(400, `${where} must be at most ${ATTRIBUTE_LIMIT} characters`);
  return value;
}

function checkCommon(
  get: (name: string) => unknown,
  where: (name: string) => string,
): Omit<InputEvent, 'data'> {
  const specversion = get('specversion');
  if (specversion !== '1.0')
    throw new ClientError(
      400,
      `${where('specversion')} must be "1.0", got ${JSON.stringify(specversion ?? null)}`,
    );
  const id = attribute(get('id'), where('id'), true) as string;
  attribute(get('source'), where('source'), true);
  const type = get('type');
  if (type !== TRANSACTION_TYPE)
    throw new ClientError(
      400,
      `${where('type')} must be ${TRANSACTION_TYPE}, got ${JSON.stringify(type ?? null)}`,
    );
  const time = attribute(get('time'), where('time'), false);
  if (time !== undefined && !Number.isFinite(Date.parse(time)))
    throw new ClientError(400, `${where('time')} must be an RFC 3339 timestamp`);
  const contentType = get('datacontenttype');
  if (contentType !== undefined && mediaType(String(contentType)) !== 'application/json')
    throw new ClientError(
      415,
      `${where('datacontenttype')} must be application/json, got ${JSON.stringify(contentType)}`,
    );
  return {
    id,
    subject: attribute(get('subject'), where('subject'), false),
    partitionkey: attribute(get('partitionkey'), where('partitionkey'), false),
    time,
  };
}

function fromBinary(request: FastifyRequest): InputEvent {
  const h = request.headers;
  if (mediaType(h['content-type']) !== 'application/json')
    throw new ClientError(
      415,
      `binary-mode event data must be application/json, got ${JSON.stringify(h['content-type'] ?? null)}`,
    );
  const head = checkCommon(
    (name) => decodeHeaderValue(h[`ce-${name}`]),
    (name) => `header ce-${name}`,
  );
  return { ...head, data: request.body };
}

function fromStructured(value: unknown, where: string): InputEvent {
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw new ClientError(400, `${where || 'body'} must be a CloudEvent JSON object`);
  const event = value as Record<string, unknown>;
  const head = checkCommon(
    (name) => event[name],
    (name) => `${where}${where ? '.' : 'body/'}${name}`,
  );
  let data = event.data;
  if (event.data_base64 !== undefined) {
    if (data !== undefined)
      throw new ClientError(400, `${where || 'body'} must not have both data and data_base64`);
    if (typeof event.data_base64 !== 'string')
      throw new ClientError(400, `${where}data_base64 must be a string`);
    try {
      data = JSON.parse(Buffer.from(event.data_base64, 'base64').toString('utf8'));
    } catch {
      throw new ClientError(400, `${where || 'body/'}data_base64 is not base64-encoded JSON`);
    }
  }
  return { ...head, data };
}

function decisionHeaders(event: InputEvent, decision: Decision) {
  const subject = event.subject ?? decision.card_id ?? undefined;
  const partitionkey = event.partitionkey ?? decision.card_id ?? undefined;
  return { subject, partitionkey };
}

export function cloudEventRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.post(
    '/',
    { config: { metricRoute: 'cloudevents' } },
    async (request: FastifyRequest, reply: FastifyReply) => {
      const model = ctx.scorer.requireModel();
      const type = mediaType(request.headers['content-type']);
      let events: InputEvent[];
      let batch = false;
      if (type === BATCH) {
        batch = true;
        const body = request.body;
        if (!Array.isArray(body))
          throw new ClientError(400, 'body must be a JSON array of CloudEvents (batched mode)');
        if (body.length === 0) throw new ClientError(400, 'body must hold at least one CloudEvent');
        if (body.length > ctx.config.maxRequestRows)
          throw new ClientError(
            413,
            `body must hold at most ${ctx.config.maxRequestRows} CloudEvents, got ${body.length}`,
          );
        events = body.map((e, i) => fromStructured(e, `[${i}]`));
      } else if (type === STRUCTURED) {
        events = [fromStructured(request.body, '')];
      } else if (request.headers['ce-specversion'] !== undefined) {
        events = [fromBinary(request)];
      } else {
        throw new ClientError(
          400,
          `not a CloudEvent: send binary mode (ce-* headers with application/json data), ${STRUCTURED} or ${BATCH}`,
        );
      }

      const transactions = events.map((e, i) =>
        validData(model, e.data, batch ? `[${i}].data` : type === STRUCTURED ? 'body/data' : 'body'),
      );
      const decisions = await ctx.scorer.decide(
        transactions,
        events.map((e) => ({ id: e.id, subject: e.subject })),
      );
      ctx.metrics.rows.inc({ route: 'cloudevents' }, transactions.length);
      events.forEach((e, i) => {
        observeEventAge(ctx.metrics, e.time ?? transactions[i]?.timestamp);
      });
      await publishDecisions(
        ctx,
        decisions.map((d, i) => ({ ...decisionHeaders(events[i] as InputEvent, d), data: d })),
      );

      const time = new Date().toISOString();
      if (batch) {
        reply.header('content-type', `${BATCH}; charset=utf-8`);
        return decisions.map((d, i) => ({
          specversion: '1.0',
          id: randomUUID(),
          source: DECISION_SOURCE,
          type: DECISION_TYPE,
          ...decisionHeaders(events[i] as InputEvent, d),
          time,
          datacontenttype: 'application/json',
          data: d,
        }));
      }
      const decision = decisions[0] as Decision;
      const { subject, partitionkey } = decisionHeaders(events[0] as InputEvent, decision);
      reply.header('ce-specversion', '1.0');
      reply.header('ce-id', randomUUID());
      reply.header('ce-source', DECISION_SOURCE);
      reply.header('ce-type', DECISION_TYPE);
      reply.header('ce-time', time);
      if (subject) reply.header('ce-subject', encodeHeaderValue(subject));
      if (partitionkey) reply.header('ce-partitionkey', encodeHeaderValue(partitionkey));
      reply.header('content-type', 'application/json; charset=utf-8');
      return decision;
    },
  );
}

function validData(model: ServedModel, data: unknown, where: string): Transaction {
  if (data === undefined)
    throw new ClientError(400, `${where} is missing: the event must carry a transaction`);
  if (!model.validateTransaction(data))
    throw new ClientError(400, describeErrors(model.validateTransaction.errors, where));
  return data;
}
