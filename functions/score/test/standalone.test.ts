// `func deploy` sends only this folder to the buildpack, which installs package.json from the registry, runs
// `npm run build`, then `npm start`. Here: a copy of the folder outside the repository (node_modules linked to
// the installed packages), built and started the same way, must become ready with the bundled model.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '@fraud/testkit/paths';
import { freePort } from '@fraud/testkit/ports';
import { startProcess, waitUntil } from '@fraud/testkit/process';
import test from 'ava';

const scoreDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

test('the function folder builds and starts on its own, as the buildpack does', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'score-standalone-'));
  try {
    for (const entry of [
      'src',
      'model',
      'proto',
      'package.json',
      'tsconfig.build.json',
      '.npmrc',
      'func.yaml',
    ])
      cpSync(path.join(scoreDir, entry), path.join(dir, entry), { recursive: true });
    const tsconfig = JSON.parse(readFileSync(path.join(dir, 'tsconfig.build.json'), 'utf8')) as {
      extends?: string;
    };
    t.is(tsconfig.extends, undefined, 'no config from outside the folder');
    symlinkSync(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    const build = spawnSync(
      process.execPath,
      [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
      {
        cwd: dir,
        encoding: 'utf8',
      },
    );
    t.is(build.status, 0, `${build.stdout}${build.stderr}`);
    t.true(existsSync(path.join(dir, 'dist/inference/worker.js')));
    const port = await freePort();
    const server = startProcess({
      name: `score-standalone-${port}`,
      command: process.execPath,
      args: ['dist/index.js'], // what `npm start` runs
      cwd: dir,
      logDir: path.join(dir, 'logs'),
      env: { PORT: String(port), GRPC_PORT: '0', HOST: '127.0.0.1', MODEL_URI: '' },
    });
    try {
      await waitUntil(
        server,
        'standalone scorer readiness',
        async () => (await fetch(`http://127.0.0.1:${port}/health/readiness`)).ok,
        60_000,
        100,
      );
      const ready = (await (await fetch(`http://127.0.0.1:${port}/health/readiness`)).json()) as {
        reason: string;
      };
      t.regex(ready.reason, new RegExp(`from ${path.join(dir, 'model').replaceAll('/', '\\/')}`));
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
