// The archive when things fail: the database goes away (503 + Retry-After, so the KafkaSource retries; then
// it recovers by itself), the archive starts before its database, and the archive process is killed and
// restarted (everything it acknowledged is in PostgreSQL; the restart applies no migration twice).
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '@fraud/testkit/ports';
import { startPostgres } from '@fraud/testkit/postgres';
import { startProcess, waitUntil } from '@fraud/testkit/process';
import test from 'ava';
import { startArchive } from '../src/server.ts';
import { archiveConfig, postBinary, startTestArchive, TYPES, transaction } from './helpers.ts';

test('database down: 503 with Retry-After and readiness 503; back up: events archived again, without a restart', async (t) => {
  const pg = await startPostgres();
  const archive = await startTestArchive(pg, 'archive_down');
  try {
    t.is((await postBinary(archive.url, TYPES.transaction, transaction())).status, 202);
    await pg.kill();
    const down = await postBinary(archive.url, TYPES.transaction, transaction());
    t.is(down.status, 503, down.body);
    t.is(down.headers.get('retry-after'), '1');
    t.regex(JSON.parse(down.body).error, /the archive database is unavailable .*; retry/);
    const ready = await fetch(`${archive.url}/health/readiness`);
    t.is(ready.status, 503);
    t.regex(((await ready.json()) as { reason: string }).reason, /^database: /);
    // Malformed events are still refused as such, not as 503: they must go to the dead-letter topic.
    t.is((await postBinary(archive.url, TYPES.transaction, { nope: 1 })).status, 400);
    await pg.restart();
    const tx = transaction();
    await waitUntil(
      undefined,
      'the archive to write again',
      async () => (await postBinary(archive.url, TYPES.transaction, tx)).status === 202,
      30_000,
    );
    t.is((await fetch(`${archive.url}/health/readiness`)).status, 200);
    t.is(await pg.psql('select count(*) from archive.transactions', 'archive_down'), '2');
    t.regex(
      await (await fetch(`${archive.url}/metrics`)).text(),
      /fraud_archive_events_total\{type="dev.fraud.transaction.v1",outcome="unavailable"\} [1-9]/,
    );
  } finally {
    await archive.close();
    await pg.stop();
  }
});

test('started before its database, the archive is live but not ready, then migrates and serves once it is up', async (t) => {
  const port = await freePort();
  const archive = await startArchive(archiveConfig(`postgres://postgres@127.0.0.1:${port}/fraud`), {
    host: '127.0.0.1',
  });
  t.is((await fetch(`${archive.url}/health/liveness`)).status, 200);
  const notReady = await fetch(`${archive.url}/health/readiness`);
  t.is(notReady.status, 503);
  t.regex(((await notReady.json()) as { reason: string }).reason, /migrations/);
  t.is((await postBinary(archive.url, TYPES.transaction, transaction())).status, 503);
  const pg = await startPostgres({ port }).catch(async (error) => {
    await archive.close();
    throw error;
  });
  try {
    t.is((await fetch(`${archive.url}/health/liveness`)).status, 200);
    await archive.migrated;
    t.is((await fetch(`${archive.url}/health/readiness`)).status, 200);
    t.is((await postBinary(archive.url, TYPES.transaction, transaction())).status, 202);
  } finally {
    await archive.close();
    await pg.stop();
  }
});

test('the archive process killed (SIGKILL) mid-stream and restarted: every acknowledged event is archived, migrations run once', async (t) => {
  const pg = await startPostgres();
  const url = await pg.createDatabase('archive_restart');
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'archive-restart-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const launch = () =>
    startProcess({
      name: 'archive',
      command: process.execPath,
      args: ['--import=tsx', 'src/index.ts'],
      cwd: path.resolve(import.meta.dirname, '..'),
      env: { PORT: String(port), DATABASE_URL: url, ARCHIVE_QUALITY_INTERVAL: '1h' },
      logDir,
    });
  let proc = launch();
  try {
    await waitUntil(proc, 'archive ready', async () => (await fetch(`${base}/health/readiness`)).ok, 60_000);
    const acked: string[] = [];
    let stop = false;
    const senders = Array.from({ length: 8 }, async () => {
      while (!stop) {
        const tx = transaction();
        const r = await postBinary(base, TYPES.transaction, tx).catch(() => ({ status: 0 }));
        if (r.status === 202) acked.push(tx.transaction_id);
      }
    });
    await waitUntil(proc, '100 acknowledged events', async () => acked.length >= 100, 30_000);
    await proc.kill();
    stop = true;
    await Promise.all(senders);
    proc = launch();
    await waitUntil(
      proc,
      'archive ready again',
      async () => (await fetch(`${base}/health/readiness`)).ok,
      60_000,
    );
    const archived = new Set(
      (await pg.psql('select transaction_id from archive.transactions', 'archive_restart')).split('\n'),
    );
    const lost = acked.filter((id) => !archived.has(id));
    t.deepEqual(lost, [], `${lost.length} of ${acked.length} acknowledged events are not in the archive`);
    t.is(await pg.psql('select count(*) from archive.pgmigrations', 'archive_restart'), '1');
    t.is((await postBinary(base, TYPES.transaction, transaction())).status, 202);
  } finally {
    await proc.stop();
    await pg.stop();
  }
});
