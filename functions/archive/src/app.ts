// The HTTP surface: POST / (CloudEvents from the KafkaSource), health probes, /metrics. Answers: 202 once the
// row is in PostgreSQL (the source commits the offset), 4xx naming what was wrong (the source dead-letters
// it to archive-dlq: nothing is lost), 503 + Retry-After while the database is unreachable (the source retries).
import Fastify, { type FastifyInstance } from 'fastify';
import { Batcher } from './batcher.ts';
import type { ArchiveConfig } from './config.ts';
import {
  DECISION_TYPE,
  type DecisionRow,
  EventError,
  type EventType,
  LABEL_TYPE,
  type LabelRow,
  parseHttpEvent,
  TRANSACTION_TYPE,
  type TransactionRow,
} from './events.ts';
import type { ArchiveMetrics } from './metrics.ts';
import { isUnavailable, type Store } from './store.ts';

export interface Writers {
  transactions: Batcher<TransactionRow>;
  decisions: Batcher<DecisionRow>;
  labels: Batcher<LabelRow>;
  drain(): Promise<void>;
}

const tableOf: Record<EventType, 'transactions' | 'decisions' | 'labels'> = {
  [TRANSACTION_TYPE]: 'transactions',
  [DECISION_TYPE]: 'decisions',
  [LABEL_TYPE]: 'labels',
};

export function makeWriters(
  store: Store,
  config: Pick<ArchiveConfig, 'batchMaxRows' | 'batchWaitMs'>,
  metrics: ArchiveMetrics,
): Writers {
  const make = <T>(table: 'transactions' | 'decisions' | 'labels', write: (rows: T[]) => Promise<void>) =>
    new Batcher<T>({
      maxRows: config.batchMaxRows,
      maxWaitMs: config.batchWaitMs,
      write: async (rows) => {
        await write(rows);
        metrics.rows.inc({ table }, rows.length);
      },
      isUnavailable,
      onBatch: (rows, ms, outcome) => {
        metrics.batchRows.observe({ table }, rows);
        metrics.batchSeconds.observe({ table, outcome }, ms / 1000);
      },
    });
  const writers = {
    transactions: make<TransactionRow>('transactions', (rows) => store.writeTransactions(rows)),
    decisions: make<DecisionRow>('decisions', (rows) => store.writeDecisions(rows)),
    labels: make<LabelRow>('labels', (rows) => store.writeLabels(rows)),
    async drain() {
      await Promise.all([writers.transactions.drain(), writers.decisions.drain(), writers.labels.drain()]);
    },
  };
  return writers;
}

export interface AppOptions {
  store: Store;
  writers: Writers;
  metrics: ArchiveMetrics;
  logger?: boolean;
  /** While false, readiness fails with this reason (migrations still running, shutting down). */
  state: { starting?: string; stopping?: boolean };
}

export function buildApp(options: AppOptions): FastifyInstance {
  const { store, writers, metrics, state } = options;
  const app = Fastify({ logger: options.logger ?? false, bodyLimit: 1024 * 1024 });
  // Bodies are parsed in events.ts, so every JSON mistake gets the archive's own message.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  app.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => {
    const status =
      error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) app.log.error(error);
    return reply.code(status).send({ error: status === 500 ? 'internal error' : error.message });
  });

  app.post('/', async (request, reply) => {
    let type: EventType | 'unknown' = 'unknown';
    if (state.starting || state.stopping) {
      metrics.events.inc({ type, outcome: 'unavailable' });
      return reply
        .code(503)
        .header('retry-after', '1')
        .send({
          error: `the archive is not ready (${state.stopping ? 'shutting down' : state.starting}); retry`,
        });
    }
    try {
      const body = typeof request.body === 'string' ? request.body : '';
      const event = parseHttpEvent(request.headers as Record<string, unknown>, body);
      type = event.type;
      const table = tableOf[event.type];
      await (writers[table] as Batcher<unknown>).add(event.row);
      metrics.events.inc({ type, outcome: 'archived' });
      return reply.code(202).send();
    } catch (error) {
      if (error instanceof EventError) {
        metrics.events.inc({ type, outcome: 'rejected' });
        return reply.code(error.statusCode).send({ error: error.message });
      }
      if (isUnavailable(error)) {
        metrics.events.inc({ type, outcome: 'unavailable' });
        return reply
          .code(503)
          .header('retry-after', '1')
          .send({ error: `the archive database is unavailable (${(error as Error).message}); retry` });
      }
      const code = (error as { code?: string }).code ?? '';
      // Class 22 (data exception) and 23 (integrity): this row can never be stored; retrying will not help.
      if (/^2[23]/.test(code)) {
        metrics.events.inc({ type, outcome: 'rejected' });
        return reply.code(422).send({ error: `PostgreSQL rejected the row: ${(error as Error).message}` });
      }
      metrics.events.inc({ type, outcome: 'error' });
      throw error;
    }
  });

  app.get('/health/liveness', async () => ({ status: 'alive' }));
  app.get('/health/readiness', async (_request, reply) => {
    if (state.stopping) return reply.code(503).send({ status: 'not ready', reason: 'shutting down' });
    if (state.starting) return reply.code(503).send({ status: 'not ready', reason: state.starting });
    const r = await store.readiness();
    metrics.ready.set(r.ready ? 1 : 0);
    return r.ready ? { status: 'ready' } : reply.code(503).send({ status: 'not ready', reason: r.reason });
  });
  app.get('/metrics', async (_request, reply) =>
    reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
  return app;
}
