import { existsSync } from 'node:fs';
import test from 'ava';
import { startMlflow } from '../src/mlflow.ts';

const api = (url: string, path: string) => `${url}/api/2.0/mlflow/${path}`;

async function post(url: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(api(url, path), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as Record<string, unknown>;
}

test('startMlflow serves the registry, keeps its data across a restart on the same port, and cleans up', async (t) => {
  const first = await startMlflow();
  const { dataDir, port, webhookEncryptionKey } = first;
  try {
    t.regex(first.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    await post(first.url, 'registered-models/create', { name: 'testkit-model' });
    await post(first.url, 'registered-models/alias', {
      name: 'testkit-model',
      alias: 'champion',
      version: '1',
    }).then(
      () => t.fail('an alias on a missing version must be refused'),
      (error: Error) => t.regex(error.message, /RESOURCE_DOES_NOT_EXIST|not found|404|400/i),
    );
    await first.process.stop();
    t.false(
      await fetch(`${first.url}/health`).then(
        () => true,
        () => false,
      ),
      'stopped server still answers',
    );

    const second = await startMlflow({ dataDir, port, webhookEncryptionKey });
    try {
      t.is(second.url, first.url);
      const found = await fetch(`${api(second.url, 'registered-models/get')}?name=testkit-model`);
      t.is(found.status, 200, 'the registered model survived the restart');
    } finally {
      await second.stop();
    }
    t.true(existsSync(dataDir), 'a data dir passed in is kept');
  } finally {
    await first.stop();
  }
  t.false(existsSync(dataDir), 'the owner removes its temp dir');
});
