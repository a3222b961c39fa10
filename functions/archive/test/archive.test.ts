// The archive against a real PostgreSQL: the contract schema, idempotent upserts of each event type, the
// label rule, batching with a bad row, PANs, malformed events, retention.
import { type PostgresService, startPostgres } from '@fraud/testkit/postgres';
import anyTest, { type TestFn } from 'ava';
import fc from 'fast-check';
import type { RunningArchive } from '../src/server.ts';
import { migrationNames } from '../src/store.ts';
import {
  decision,
  label,
  postBinary,
  postStructured,
  startTestArchive,
  TYPES,
  transaction,
  uniqueId,
} from './helpers.ts';

const test = anyTest as TestFn<{ pg: PostgresService; archive: RunningArchive }>;

test.before(async (t) => {
  t.context.pg = await startPostgres();
  t.context.archive = await startTestArchive(t.context.pg, 'archive_main', { batchWaitMs: 5 });
});
test.after.always(async (t) => {
  await t.context.archive?.close();
  await t.context.pg?.stop();
});

const sql = (t: { context: { pg: PostgresService } }, query: string) =>
  t.context.pg.psql(query, 'archive_main');

test('the migrations create the contract schema, and readiness says so', async (t) => {
  const columns = await sql(
    t,
    `select table_name || '.' || column_name || ':' || data_type || ':' || is_nullable
     from information_schema.columns where table_schema = 'archive' and table_name <> 'pgmigrations'
     order by table_name, ordinal_position`,
  );
  t.deepEqual(columns.split('\n'), [
    'decisions.transaction_id:text:NO',
    'decisions.card_id:text:NO',
    'decisions.model_name:text:NO',
    'decisions.model_version:text:NO',
    'decisions.model_sha256:text:YES',
    'decisions.fraud_probability:double precision:NO',
    'decisions.threshold:double precision:NO',
    'decisions.decision:text:NO',
    'decisions.decided_at:timestamp with time zone:NO',
    'decisions.archived_at:timestamp with time zone:NO',
    'label_history.id:bigint:NO',
    'label_history.transaction_id:text:NO',
    'label_history.card_id:text:NO',
    'label_history.is_fraud:boolean:NO',
    'label_history.source:text:NO',
    'label_history.labeled_at:timestamp with time zone:NO',
    'label_history.received_at:timestamp with time zone:NO',
    'labels.transaction_id:text:NO',
    'labels.card_id:text:NO',
    'labels.is_fraud:boolean:NO',
    'labels.source:text:NO',
    'labels.labeled_at:timestamp with time zone:NO',
    'labels.archived_at:timestamp with time zone:NO',
    'transactions.transaction_id:text:NO',
    'transactions.card_id:text:NO',
    'transactions.occurred_at:timestamp with time zone:NO',
    'transactions.amount:numeric:NO',
    'transactions.payload:jsonb:NO',
    'transactions.archived_at:timestamp with time zone:NO',
  ]);
  const indexes = await sql(t, `select indexdef from pg_indexes where schemaname = 'archive' order by 1`);
  for (const wanted of [
    /ON archive\.transactions USING btree \(occurred_at\)/,
    /ON archive\.decisions USING btree \(model_name, model_version, decided_at\)/,
    /ON archive\.labels USING btree \(labeled_at\)/,
    /UNIQUE INDEX .* ON archive\.label_history USING btree \(transaction_id, labeled_at, is_fraud, source\)/,
  ]) {
    t.regex(indexes, wanted);
  }
  t.is(await sql(t, 'select count(*) from archive.pgmigrations'), String(migrationNames().length));
  const ready = await fetch(`${t.context.archive.url}/health/readiness`);
  t.is(ready.status, 200);
  t.is((await fetch(`${t.context.archive.url}/health/liveness`)).status, 200);
});

test('a transaction is archived whole, in binary and structured mode, once however often it is delivered', async (t) => {
  const { url } = t.context.archive;
  const a = transaction();
  const b = transaction();
  t.is((await postBinary(url, TYPES.transaction, a)).status, 202);
  t.is((await postBinary(url, TYPES.transaction, a)).status, 202, 'redelivery is fine');
  t.is((await postStructured(url, TYPES.transaction, b)).status, 202);
  await Promise.all(Array.from({ length: 5 }, () => postStructured(url, TYPES.transaction, b)));
  const rows = await sql(
    t,
    `select transaction_id, card_id, amount, occurred_at = '2026-12-01T10:00:00Z', payload = '${JSON.stringify(a)}'::jsonb
     from archive.transactions where transaction_id in ('${a.transaction_id}', '${b.transaction_id}') order by 1`,
  );
  const lines = rows.split('\n');
  t.is(lines.length, 2);
  t.true(
    lines.some((l) => l === `${a.transaction_id}|${a.card_id}|123.45|t|t`),
    rows,
  );
});

test('a decision is upserted by transaction id with the model that made it', async (t) => {
  const { url } = t.context.archive;
  const id = uniqueId();
  const time = '2026-12-02T09:00:00.000Z';
  t.is(
    (
      await postBinary(url, TYPES.decision, decision(id, { decision: 'legit', fraud_probability: 0.1 }), {
        'ce-time': time,
      })
    ).status,
    202,
  );
  t.is(
    (
      await postBinary(url, TYPES.decision, decision(id, { decision: 'legit', fraud_probability: 0.1 }), {
        'ce-time': time,
      })
    ).status,
    202,
  );
  t.is(
    (
      await postBinary(
        url,
        TYPES.decision,
        decision(id, { model: { name: 'fraud-detector', version: '4' } }),
        { 'ce-time': time },
      )
    ).status,
    202,
  );
  t.is(
    await sql(
      t,
      `select model_name, model_version, model_sha256 is null, decision, fraud_probability, threshold, decided_at = '${time}' from archive.decisions where transaction_id = '${id}'`,
    ),
    'fraud-detector|4|t|fraud|0.9|0.5|t',
  );
});

test('labels: the greatest (labeled_at, is_fraud, source) is current whatever the order, every distinct one is kept (property)', async (t) => {
  const { url } = t.context.archive;
  const labelArb = fc.record({
    minute: fc.integer({ min: 0, max: 3 }),
    is_fraud: fc.boolean(),
    source: fc.constantFrom('chargeback', 'analyst', 'customer'),
  });
  await fc.assert(
    fc.asyncProperty(
      fc.array(labelArb, { minLength: 1, maxLength: 6 }),
      fc.boolean(),
      async (labels, concurrent) => {
        const id = uniqueId('lbl');
        const events = labels.map((l) =>
          label(id, { ...l, minute: undefined, labeled_at: `2026-12-02T10:0${l.minute}:00.000Z` }),
        );
        for (const e of events) delete (e as Record<string, unknown>).minute;
        if (concurrent) {
          const statuses = await Promise.all(events.map((e) => postBinary(url, TYPES.label, e)));
          if (statuses.some((s) => s.status !== 202)) throw new Error(JSON.stringify(statuses));
        } else {
          for (const e of events)
            if ((await postBinary(url, TYPES.label, e)).status !== 202) throw new Error('not archived');
        }
        const key = (l: (typeof labels)[number]) => `${l.minute}|${l.is_fraud ? 1 : 0}|${l.source}`;
        const best = [...labels].sort((x, y) => (key(x) < key(y) ? 1 : -1))[0]!;
        const current = await sql(
          t,
          `select extract(minute from labeled_at)::int || '|' || (is_fraud::int) || '|' || source from archive.labels where transaction_id = '${id}'`,
        );
        if (current !== key(best))
          throw new Error(`current ${current}, expected ${key(best)} of ${labels.map(key).join(', ')}`);
        const history = Number(
          await sql(t, `select count(*) from archive.label_history where transaction_id = '${id}'`),
        );
        if (history !== new Set(labels.map(key)).size)
          throw new Error(`history ${history} for ${labels.map(key).join(', ')}`);
      },
    ),
    { numRuns: 25 },
  );
  t.pass();
});

test('a label that arrives before its transaction is kept and joins when the transaction comes', async (t) => {
  const { url } = t.context.archive;
  const tx = transaction();
  t.is((await postBinary(url, TYPES.label, label(tx.transaction_id, { card_id: tx.card_id }))).status, 202);
  t.is(
    await sql(t, `select count(*) from archive.transactions where transaction_id = '${tx.transaction_id}'`),
    '0',
  );
  t.is((await postBinary(url, TYPES.transaction, tx)).status, 202);
  t.is(
    await sql(
      t,
      `select t.amount, l.is_fraud from archive.transactions t join archive.labels l using (transaction_id) where transaction_id = '${tx.transaction_id}'`,
    ),
    '123.45|t',
  );
});

test('many events at once share multi-row INSERTs', async (t) => {
  const { url, metrics } = t.context.archive;
  const before =
    (await metrics.batchRows.get()).values.find(
      (v) => v.metricName === 'fraud_archive_batch_rows_count' && v.labels.table === 'transactions',
    )?.value ?? 0;
  const txs = Array.from({ length: 200 }, () => transaction());
  const statuses = await Promise.all(txs.map((tx) => postBinary(url, TYPES.transaction, tx)));
  t.true(statuses.every((s) => s.status === 202));
  const after =
    (await metrics.batchRows.get()).values.find(
      (v) => v.metricName === 'fraud_archive_batch_rows_count' && v.labels.table === 'transactions',
    )?.value ?? 0;
  t.true(after - before < 200, `200 rows went out in ${after - before} statements`);
  t.is(
    await sql(
      t,
      `select count(*) from archive.transactions where transaction_id in (${txs.map((x) => `'${x.transaction_id}'`).join(',')})`,
    ),
    '200',
  );
});

test('a row PostgreSQL refuses fails alone: the rest of its batch is archived', async (t) => {
  const { pg } = t.context;
  // A batcher with a long wait, so the three rows surely share one INSERT.
  const archive = await startTestArchive(pg, 'archive_split', { batchWaitMs: 200, batchMaxRows: 3 });
  try {
    const { Batcher } = await import('../src/batcher.ts');
    const { isUnavailable } = await import('../src/store.ts');
    let statements = 0;
    const batcher = new Batcher({
      maxRows: 3,
      maxWaitMs: 200,
      write: (rows: Parameters<typeof archive.store.writeTransactions>[0]) => {
        statements++;
        return archive.store.writeTransactions(rows);
      },
      isUnavailable,
    });
    const good = [transaction(), transaction()].map((tx) => ({
      transaction_id: tx.transaction_id,
      card_id: tx.card_id,
      occurred_at: tx.timestamp,
      amount: 1,
      payload: tx,
    }));
    // Passes nothing but reaches the database: an impossible date (events.ts would have refused it).
    const bad = { ...good[0]!, transaction_id: uniqueId('bad'), occurred_at: '2026-02-30T00:00:00Z' };
    const results = await Promise.allSettled([
      batcher.add(good[0]!),
      batcher.add(bad),
      batcher.add(good[1]!),
    ]);
    t.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    t.regex(String((results[1] as PromiseRejectedResult).reason), /date\/time field value out of range/);
    t.is(statements, 4, 'one batch, then each row alone');
    t.is(await pg.psql('select count(*) from archive.transactions', 'archive_split'), '2');
  } finally {
    await archive.close();
  }
});

test('card numbers (Luhn-valid 13-19 digits) are refused with 422 for every event type, tokens pass', async (t) => {
  const { url } = t.context.archive;
  const pans = ['4111111111111111', '4111-1111-1111-1111', '378282246310005', '6011000990139424'];
  for (const pan of pans) {
    const id = uniqueId();
    for (const [type, data] of [
      [TYPES.transaction, transaction(id, { card_id: pan.replaceAll('-', '') === pan ? pan : pan })],
      [TYPES.decision, decision(id, { card_id: pan })],
      [TYPES.label, label(id, { card_id: pan })],
    ] as const) {
      const r = await postBinary(url, type, data);
      if (/^[A-Za-z0-9_.:-]+$/.test(pan)) {
        t.is(r.status, 422, `${type} ${pan}`);
        t.regex(r.body, /data\.card_id looks like a card number \(PAN\)/);
      } else {
        t.is(r.status, 400);
      }
    }
    t.is(await sql(t, `select count(*) from archive.transactions where transaction_id = '${id}'`), '0');
  }
  // 16 digits that fail the Luhn check are a token like any other.
  t.is(
    (await postBinary(url, TYPES.transaction, transaction(uniqueId(), { card_id: '4111111111111112' })))
      .status,
    202,
  );
});

test('malformed events get a 4xx that names what was wrong', async (t) => {
  const { url } = t.context.archive;
  const tx = transaction();
  const cases: [Promise<{ status: number; body: string }>, number, RegExp][] = [
    [
      postBinary(url, 'com.example.other', tx),
      400,
      /header ce-type must be one of dev\.fraud\.transaction\.v1/,
    ],
    [
      postBinary(url, TYPES.transaction, tx, { 'ce-specversion': '0.3' }),
      400,
      /header ce-specversion must be "1\.0"/,
    ],
    [
      postBinary(url, TYPES.transaction, tx, { 'ce-time': 'yesterday' }),
      400,
      /header ce-time must be an RFC 3339 timestamp/,
    ],
    [postBinary(url, TYPES.transaction, '{"transaction_id":'), 400, /the body is not valid JSON/],
    [postBinary(url, TYPES.transaction, [tx]), 400, /must be a JSON object/],
    [postBinary(url, TYPES.transaction, { ...tx, amount: -1 }), 400, /data\.amount must be >= 0/],
    [
      postBinary(url, TYPES.transaction, { ...tx, timestamp: 'noon' }),
      400,
      /data\.timestamp must match format "date-time"/,
    ],
    [
      postBinary(url, TYPES.transaction, (({ card_id: _, ...rest }) => rest)(tx)),
      400,
      /data must have card_id/,
    ],
    [
      postBinary(url, TYPES.decision, decision('x', { decision: 'maybe' })),
      400,
      /data\.decision must be one of "fraud", "legit"/,
    ],
    [
      postBinary(url, TYPES.decision, decision('x', { model: { name: 'm' } })),
      400,
      /data\.model must have version/,
    ],
    [
      postBinary(url, TYPES.label, label('x', { source: 'model' })),
      400,
      /data\.source must be one of "chargeback", "analyst", "customer"/,
    ],
    [postBinary(url, TYPES.label, label('x', { extra: 1 })), 400, /data must not have extra/],
    [
      postBinary(url, TYPES.transaction, tx, { 'content-type': 'text/plain' }),
      415,
      /content-type must be application\/json/,
    ],
    [
      postStructured(url, TYPES.transaction, tx, { datacontenttype: 'text/csv' }),
      415,
      /attribute datacontenttype must be application\/json/,
    ],
    [
      postStructured(url, TYPES.label, label('x'), { id: '' }),
      400,
      /attribute id must be a non-empty string/,
    ],
    [
      fetch(`${url}/`, { method: 'POST', body: 'hello' }).then(async (r) => ({
        status: r.status,
        body: await r.text(),
      })),
      400,
      /not a CloudEvent/,
    ],
  ];
  for (const [response, status, message] of cases) {
    const r = await response;
    t.is(r.status, status, r.body);
    t.regex(JSON.parse(r.body).error, message);
  }
});

test('any body and headers (fuzz) get a 4xx or 202, never a 5xx, and the archive keeps serving', async (t) => {
  const { url } = t.context.archive;
  const header = fc.option(
    fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.constantFrom('1.0', TYPES.transaction, TYPES.label, TYPES.decision, 'application/json'),
    ),
    { nil: undefined },
  );
  const body = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.json({ maxDepth: 3 }),
    fc
      .record({
        transaction_id: fc.string(),
        card_id: fc.string(),
        timestamp: fc.string(),
        amount: fc.double(),
        is_fraud: fc.anything(),
        labeled_at: fc.string(),
        source: fc.string(),
      })
      .map((o) => JSON.stringify(o)),
  );
  await fc.assert(
    fc.asyncProperty(
      header,
      header,
      header,
      header,
      fc.constantFrom('application/json', 'application/cloudevents+json', 'text/plain', undefined),
      body,
      async (specversion, type, id, source, contentType, text) => {
        const headers: Record<string, string> = {};
        const put = (k: string, v: string | undefined) => {
          if (v !== undefined && /^[\t\x20-\x7e]*$/.test(v)) headers[k] = v;
        };
        put('ce-specversion', specversion);
        put('ce-type', type);
        put('ce-id', id);
        put('ce-source', source);
        put('content-type', contentType);
        const r = await fetch(`${url}/`, { method: 'POST', headers, body: text });
        await r.arrayBuffer();
        if (!(r.status === 202 || (r.status >= 400 && r.status < 500)))
          throw new Error(`status ${r.status} for ${JSON.stringify({ headers, text })}`);
      },
    ),
    { numRuns: 300 },
  );
  t.is((await fetch(`${url}/health/readiness`)).status, 200);
});

test('retention deletes rows archived more than ARCHIVE_RETENTION_DAYS ago, and only those', async (t) => {
  const { pg } = t.context;
  const archive = await startTestArchive(pg, 'archive_retention', { retentionDays: 30 });
  try {
    const [old, fresh] = [transaction(), transaction()];
    for (const tx of [old, fresh]) {
      await postBinary(archive.url, TYPES.transaction, tx);
      await postBinary(archive.url, TYPES.decision, decision(tx.transaction_id));
      await postBinary(archive.url, TYPES.label, label(tx.transaction_id));
    }
    const db = 'archive_retention';
    for (const table of ['transactions', 'decisions', 'labels']) {
      await pg.psql(
        `update archive.${table} set archived_at = now() - interval '31 days' where transaction_id = '${old.transaction_id}'`,
        db,
      );
    }
    await pg.psql(
      `update archive.label_history set received_at = now() - interval '31 days' where transaction_id = '${old.transaction_id}'`,
      db,
    );
    t.deepEqual(await archive.runRetention(), { transactions: 1, decisions: 1, labels: 1, label_history: 1 });
    for (const table of ['transactions', 'decisions', 'labels', 'label_history']) {
      t.is(
        await pg.psql(`select string_agg(transaction_id, ',') from archive.${table}`, db),
        fresh.transaction_id,
        table,
      );
    }
    t.regex(
      await (await fetch(`${archive.url}/metrics`)).text(),
      /fraud_archive_retention_deleted_rows_total\{table="transactions"\} 1/,
    );
  } finally {
    await archive.close();
  }
});
