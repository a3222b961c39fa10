// `npm run bench` part 1 (alone: `BENCH_ONLY=serving npm run bench`): what a user measures first.
//
//  1. Throughput against a same-body fastify 5 hello-world (it parses the same JSON POST body and answers a
//     constant object), the same autocannon settings for both, at 32 and at 64 connections, interleaved
//     rounds; the scorer in both INFERENCE_MODEs, with 2 CPUs and pinned to 1 CPU (`taskset -c 0`, the
//     hello-world pinned the same way).
//  2. Tail latency: the project's open-loop paced client (paced-load.ts) at half the scorer's measured peak,
//     p50/p99 for the scorer and for the hello-world at the same rate; vegeta as a cross-check when
//     VEGETA_BIN (or the cache's go-bin/vegeta) exists.
//
// Env: BENCH_SECONDS (per run, default 5), BENCH_ROUNDS (default 3).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '@fraud/testkit/ports';
import { type ManagedProcess, startProcess, waitUntil } from '@fraud/testkit/process';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import autocannon from 'autocannon';
import { Pool } from 'undici';
import { availableCpus, resolveInferenceMode } from '../src/inference/cpus.ts';
import { pacedLoad } from './paced-load.ts';

export interface ServingBenchOptions {
  scoreDir: string;
  /** One encoded row (card order) and the model's name and input name, for the v2 REST vs gRPC part. */
  tensor: { model: string; input: string; row: number[] };
  logDir: string;
  /** The request body for POST /score and for the hello-world: one transaction as JSON. */
  body: string;
  seconds: number;
  rounds: number;
}

interface Started {
  url: string;
  proc: ManagedProcess;
}

async function start(
  o: ServingBenchOptions,
  name: string,
  script: string,
  env: Record<string, string>,
  readyPath: string,
  cpus: '1' | '2',
): Promise<Started> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const node = process.execPath;
  const [command, args] = cpus === '1' ? ['taskset', ['-c', '0', node, script]] : [node, [script]];
  const proc = startProcess({
    name: `${name}-${port}`,
    command: command as string,
    args: args as string[],
    cwd: o.scoreDir,
    logDir: o.logDir,
    env: { PORT: String(port), GRPC_PORT: '0', HOST: '127.0.0.1', ...env },
  });
  await waitUntil(proc, `${name} ${readyPath}`, async () => (await fetch(url + readyPath)).ok, 180_000, 10);
  return { url, proc };
}

async function cannon(url: string, body: string, connections: number, seconds: number) {
  const opts = {
    url,
    method: 'POST' as const,
    headers: { 'content-type': 'application/json' },
    body,
    connections,
    pipelining: 1,
  };
  await autocannon({ ...opts, duration: 1 });
  const r = await autocannon({ ...opts, duration: seconds });
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    bad: r.non2xx + r.errors + r.timeouts,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

export interface ThroughputRow {
  cpus: '1' | '2';
  mode: 'inline' | 'workers';
  connections: number;
  helloRps: number;
  scorerRps: number;
  ratio: number;
}

/** Hello-world and scorer (one mode) on the same CPUs, interleaved rounds at 32 and 64 connections. */
async function throughput(o: ServingBenchOptions, cpus: '1' | '2'): Promise<ThroughputRow[]> {
  const hello = await start(o, 'hello', 'bench/servers/fastify-hello.mjs', {}, '/health', cpus);
  const scorers = {
    inline: await start(
      o,
      'scorer-inline',
      'dist/index.js',
      { INFERENCE_MODE: 'inline' },
      '/health/readiness',
      cpus,
    ),
    workers: await start(
      o,
      'scorer-workers',
      'dist/index.js',
      { INFERENCE_MODE: 'workers' },
      '/health/readiness',
      cpus,
    ),
  };
  const rows: ThroughputRow[] = [];
  try {
    for (const connections of [32, 64]) {
      const samples: Record<'hello' | 'inline' | 'workers', number[]> = {
        hello: [],
        inline: [],
        workers: [],
      };
      for (let round = 0; round < o.rounds; round++) {
        for (const [name, server] of [
          ['hello', hello],
          ['inline', scorers.inline],
          ['workers', scorers.workers],
        ] as const) {
          const r = await cannon(
            `${server.url}${name === 'hello' ? '/' : '/score'}`,
            o.body,
            connections,
            o.seconds,
          );
          if (r.bad) console.log(`  (${name}: ${r.bad} non-2xx/errors)`);
          samples[name].push(r.rps);
          console.log(
            `  ${cpus} CPU ${String(connections).padStart(2)}c round ${round + 1} ${name.padEnd(8)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50} ms  p99 ${r.p99} ms`,
          );
        }
      }
      for (const mode of ['inline', 'workers'] as const) {
        // Ratio per round (same minute of background load), then the median of those.
        const ratio = median(samples[mode].map((s, i) => s / (samples.hello[i] as number)));
        rows.push({
          cpus,
          mode,
          connections,
          helloRps: median(samples.hello),
          scorerRps: median(samples[mode]),
          ratio,
        });
      }
    }
  } finally {
    await Promise.all([hello, scorers.inline, scorers.workers].map((s) => s.proc.stop(5000)));
  }
  return rows;
}

/** A Go load tool from $<NAME>_BIN or the cache's go-bin (built by `go install`, see BENCHMARKS.md). */
function goTool(name: 'vegeta' | 'ghz'): string | undefined {
  const cache = process.env.FRAUD_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'fraud-platform');
  const candidate = process.env[`${name.toUpperCase()}_BIN`] ?? path.join(cache, 'go-bin', name);
  return existsSync(candidate) ? candidate : undefined;
}
const vegetaBin = () => goTool('vegeta');

/** Runs a tool to completion; its stdout, or an error naming the tool and its stderr. */
function runTool(bin: string, args: string[]): string {
  const run = spawnSync(bin, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (run.status !== 0) throw new Error(`${path.basename(bin)} ${args[0]} failed: ${run.stderr}`);
  return run.stdout;
}

interface VegetaReport {
  latencies: { '50th': number; '99th': number };
  throughput: number;
  success: number;
}

/** One vegeta attack with a POST of `body` to `url`; `pacing` are its rate/worker flags. */
function vegetaAttack(
  bin: string,
  url: string,
  body: string,
  seconds: number,
  pacing: string[],
): VegetaReport {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vegeta-'));
  try {
    writeFileSync(path.join(dir, 'body.json'), body);
    const targets = path.join(dir, 'targets');
    writeFileSync(targets, `POST ${url}\nContent-Type: application/json\n@${path.join(dir, 'body.json')}\n`);
    const out = path.join(dir, 'out.bin');
    runTool(bin, ['attack', ...pacing, `-duration=${seconds}s`, `-targets=${targets}`, `-output=${out}`]);
    return JSON.parse(runTool(bin, ['report', '-type=json', out])) as VegetaReport;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** vegeta at a constant rate (its own open-loop pacer): p50/p99 in ms. */
function vegeta(bin: string, url: string, body: string, rate: number, seconds: number) {
  const r = vegetaAttack(bin, url, body, seconds, [`-rate=${rate}/s`, '-max-workers=64']);
  return {
    p50: r.latencies['50th'] / 1e6,
    p99: r.latencies['99th'] / 1e6,
    rps: r.throughput,
    success: r.success,
  };
}

/** Closed loop from independent Go clients: vegeta with `workers` in flight (-rate=0) on REST, ghz with as
 * many concurrent calls on gRPC; successful calls per second. */
function vegetaClosedLoop(bin: string, url: string, body: string, seconds: number, workers: number): number {
  return vegetaAttack(bin, url, body, seconds, ['-rate=0', `-workers=${workers}`, `-max-workers=${workers}`])
    .throughput;
}

function ghzClosedLoop(
  bin: string,
  target: string,
  proto: string,
  data: object,
  seconds: number,
  calls: number,
) {
  const out = runTool(bin, [
    '--insecure', '--proto', proto, '--call', 'inference.GRPCInferenceService/ModelInfer',
    '--data', JSON.stringify(data), '-c', String(calls), '-z', `${seconds}s`, '--connections', '4',
    '--format', 'json', target,
  ]); // biome-ignore format: one flag and its value per pair
  const r = JSON.parse(out) as {
    count: number;
    total: number;
    statusCodeDistribution: Record<string, number>;
  };
  // The calls cut off when -z ends come back Unavailable/Canceled; only OK counts.
  return (r.statusCodeDistribution.OK ?? 0) / (r.total / 1e9);
}

/**
 * OIP REST (POST /v2/models/<m>/infer, JSON tensor) against OIP gRPC (ModelInfer, typed fp32 contents) on the
 * same scorer, the same one-row tensor, the same closed loop: `callers` requests in flight from this process.
 */
async function restVsGrpc(o: ServingBenchOptions, callers: number) {
  const grpcPort = await freePort();
  const port = await freePort();
  const proc = startProcess({
    name: `scorer-grpc-${port}`,
    command: process.execPath,
    args: ['dist/index.js'],
    cwd: o.scoreDir,
    logDir: o.logDir,
    env: { PORT: String(port), GRPC_PORT: String(grpcPort), HOST: '127.0.0.1' },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(
    proc,
    'scorer readiness',
    async () => (await fetch(`${url}/health/readiness`)).ok,
    180_000,
    10,
  );
  const { model, input, row } = o.tensor;
  const restBody = JSON.stringify({
    inputs: [{ name: input, datatype: 'FP32', shape: [1, row.length], data: row }],
  });
  const pool = new Pool(url, { connections: callers, pipelining: 1 });
  const definition = protoLoader.loadSync(path.join(o.scoreDir, 'proto', 'grpc_predict_v2.proto'), {
    keepCase: true,
    longs: Number,
    defaults: true,
  });
  // biome-ignore lint/suspicious/noExplicitAny: a client generated at run time
  const pkg = grpc.loadPackageDefinition(definition) as any;
  const client = new pkg.inference.GRPCInferenceService(
    `127.0.0.1:${grpcPort}`,
    grpc.credentials.createInsecure(),
  );
  const grpcRequest = {
    model_name: model,
    inputs: [{ name: input, datatype: 'FP32', shape: [1, row.length], contents: { fp32_contents: row } }],
  };
  const rest = async () => {
    const r = await pool.request({
      path: `/v2/models/${model}/infer`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: restBody,
    });
    await r.body.text();
    if (r.statusCode !== 200) throw new Error(`REST ${r.statusCode}`);
  };
  const rpc = () =>
    new Promise<void>((resolve, reject) =>
      client.ModelInfer(grpcRequest, (err: Error | null) => (err ? reject(err) : resolve())),
    );
  const closedLoop = async (fn: () => Promise<void>, seconds: number) => {
    const end = performance.now() + seconds * 1000;
    let done = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: callers }, async () => {
        while (performance.now() < end) {
          await fn();
          done++;
        }
      }),
    );
    return done / ((performance.now() - started) / 1000);
  };
  const samples = { rest: [] as number[], grpc: [] as number[] };
  let independent: string | undefined;
  try {
    await closedLoop(rest, 1);
    await closedLoop(rpc, 1);
    for (let round = 0; round < o.rounds; round++) {
      samples.rest.push(await closedLoop(rest, o.seconds));
      samples.grpc.push(await closedLoop(rpc, o.seconds));
    }
    // The grpc-js client costs more than the server's side: cross-check with Go clients that are not the limit.
    const vegetaPath = goTool('vegeta');
    const ghzPath = goTool('ghz');
    if (vegetaPath && ghzPath) {
      const go = { rest: [] as number[], grpc: [] as number[] };
      const proto = path.join(o.scoreDir, 'proto', 'grpc_predict_v2.proto');
      for (let round = 0; round < o.rounds; round++) {
        go.rest.push(
          vegetaClosedLoop(vegetaPath, `${url}/v2/models/${model}/infer`, restBody, o.seconds, callers),
        );
        go.grpc.push(ghzClosedLoop(ghzPath, `127.0.0.1:${grpcPort}`, proto, grpcRequest, o.seconds, callers));
      }
      const goRatio = median(go.grpc.map((g, i) => g / (go.rest[i] as number)));
      independent = `  OIP ModelInfer, 1 row, ${callers} in flight, Go clients (vegeta -rate=0, ghz 4 connections): REST v2 JSON ${median(go.rest).toFixed(0)} req/s, gRPC ${median(go.grpc).toFixed(0)} req/s, gRPC/REST ${goRatio.toFixed(2)}× (median of ${o.rounds} interleaved rounds)`;
    }
  } finally {
    client.close();
    await pool.close();
    await proc.stop(5000);
  }
  const ratio = median(samples.grpc.map((g, i) => g / (samples.rest[i] as number)));
  const lines = [
    `  OIP ModelInfer, 1 row, ${callers} in flight, clients in this process (undici, @grpc/grpc-js): REST v2 JSON ${median(samples.rest).toFixed(0)} req/s, gRPC ${median(samples.grpc).toFixed(0)} req/s, gRPC/REST ${ratio.toFixed(2)}× (median of ${o.rounds} interleaved rounds)`,
  ];
  if (independent) lines.push(independent);
  else
    lines.push(
      '  (independent clients skipped: build vegeta and ghz with `GOBIN=~/.cache/fraud-platform/go-bin go install github.com/tsenart/vegeta/v12@latest github.com/bojand/ghz/cmd/ghz@latest`)',
    );
  return lines.join('\n');
}

export async function servingBench(o: ServingBenchOptions): Promise<string> {
  console.log(
    `serving bench: ${o.seconds}s per run, ${o.rounds} interleaved rounds, load ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  const rows = [...(await throughput(o, '2')), ...(await throughput(o, '1'))];

  // Tail at half the peak: the peak is the 2-CPU scorer at 64 connections in its default (auto) mode here.
  const auto = resolveInferenceMode('auto', availableCpus());
  const peak = rows.find((r) => r.cpus === '2' && r.mode === auto && r.connections === 64)?.scorerRps ?? 0;
  const rate = Math.max(100, Math.round(peak / 2));
  const tail: string[] = [];
  const hello = await start(o, 'hello', 'bench/servers/fastify-hello.mjs', {}, '/health', '2');
  const scorers = await Promise.all(
    (['inline', 'workers'] as const).map(async (mode) => ({
      mode,
      server: await start(
        o,
        `scorer-${mode}`,
        'dist/index.js',
        { INFERENCE_MODE: mode },
        '/health/readiness',
        '2',
      ),
    })),
  );
  try {
    for (const [name, server, route] of [
      ['fastify hello-world', hello, '/'],
      ...scorers.map(
        ({ mode, server }) =>
          [`scorer (INFERENCE_MODE=${mode}${mode === auto ? ', = auto' : ''})`, server, '/score'] as const,
      ),
    ] as const) {
      const run = { url: server.url, path: route, body: o.body, rate, connections: 32 };
      await pacedLoad({ ...run, seconds: 1 });
      const p = await pacedLoad({ ...run, seconds: o.seconds });
      tail.push(
        `  paced ${rate}/s  ${name.padEnd(40)} p50 ${p.p50.toFixed(2)} ms  p99 ${p.p99.toFixed(2)} ms  max ${p.max.toFixed(1)} ms  behind ${p.behind}  client stall ${p.clientStallMs.toFixed(1)} ms  non-2xx ${p.non2xx + p.errors}`,
      );
      const bin = vegetaBin();
      if (bin) {
        const v = vegeta(bin, server.url + route, o.body, rate, o.seconds);
        tail.push(
          `  vegeta ${rate}/s ${name.padEnd(40)} p50 ${v.p50.toFixed(2)} ms  p99 ${v.p99.toFixed(2)} ms  success ${(v.success * 100).toFixed(1)}%`,
        );
      }
    }
  } finally {
    await Promise.all([hello.proc.stop(5000), ...scorers.map((s) => s.server.proc.stop(5000))]);
  }
  if (!vegetaBin())
    tail.push(
      '  (vegeta cross-check skipped: build it with `GOBIN=~/.cache/fraud-platform/go-bin go install github.com/tsenart/vegeta/v12@latest`)',
    );

  const oip = await restVsGrpc(o, 32);
  const table = rows
    .map(
      (r) =>
        `  ${r.cpus} CPU  ${r.mode.padEnd(7)}  ${String(r.connections).padStart(2)}c  hello ${r.helloRps.toFixed(0).padStart(6)}  scorer ${r.scorerRps.toFixed(0).padStart(6)} req/s  ratio ${r.ratio.toFixed(2)}×${r.ratio >= 0.75 ? '' : '  (below the 0.75× target)'}`,
    )
    .join('\n');
  return `POST /score (1 tx) vs same-body fastify hello-world, autocannon, median of ${o.rounds} interleaved rounds (target ≥ 0.75×):
${table}
tail at half the peak (${rate}/s = half of ${peak.toFixed(0)} req/s, 2 CPUs; target p99 < 5 ms):
${tail.join('\n')}
REST vs gRPC (same scorer, same client process, closed loop):
${oip}
load average at the end: ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`;
}
