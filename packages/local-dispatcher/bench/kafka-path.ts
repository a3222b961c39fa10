// Benchmarks of the Kafka side, all in one run against one broker (loopback, bounded):
//  1. the attack generator's top rate vs Kafka's own Java ProducerPerformance, same record size, same acks;
//  2. the attack generator's rate accuracy at 100 .. 20,000 ev/s;
//  3. the local path as `npm start` runs it (bench/local-path.ts): ordered decisions/s against the 4 000/s
//     target, and the README's 2 000/s attack with its decision rate and the consumer lag at its end.
// Usage: npm run bench --workspace packages/local-dispatcher [-- --quick] [--path-only]
//   [--modes inline,workers] (the scorer's INFERENCE_MODE values to compare; default both) [--profile DIR]
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startKafka } from '@fraud/testkit/kafka';
import { repoRoot } from '@fraud/testkit/paths';
import { TransactionSource, withoutLabels } from '@fraud/transactions';
import { transactionMessage } from '../src/transaction-event.ts';
import { type AttackSummary, runLocalPathBench } from './local-path.ts';

const quick = process.argv.includes('--quick');
const pathOnly = process.argv.includes('--path-only');
const flag = (name: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const modes = (flag('--modes') ?? 'inline,workers').split(',');
const profileDir = flag('--profile');
const reportDir = mkdtempSync(path.join(os.tmpdir(), 'fraud-bench-'));

function run(
  command: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

interface Summary extends AttackSummary {
  sent: number;
  errors: number;
  decisionsSeen: number | null;
}

async function attack(args: string[]): Promise<Summary> {
  const r = await run(process.execPath, [
    '--import',
    'tsx',
    'scripts/attack/cli.mts',
    '--quiet',
    '--report-dir',
    reportDir,
    ...args,
  ]);
  if (r.code !== 0) throw new Error(`attack ${args.join(' ')} failed (${r.code}):\n${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout) as Summary;
}

const kafka = await startKafka({ partitions: 6 });
console.log(
  `broker ${kafka.install.version} on ${kafka.bootstrap} (startup ${kafka.startupMs} ms); machine load ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
try {
  if (!pathOnly) await generatorBenches();
  // 3. The whole local path, as npm start runs it.
  await runLocalPathBench({ kafka, attack, quick, modes, profileDir });
} finally {
  await kafka.stop();
}

async function generatorBenches(): Promise<void> {
  // 1. Top rate, same record size: the generator's average record (key + value + headers) is the Java tool's size.
  const count = quick ? 50_000 : 200_000;
  await kafka.createTopics([{ topic: 'bench-attack' }, { topic: 'bench-java' }, { topic: 'decisions' }]);
  const sample = new TransactionSource({ seed: 42 });
  let bytes = 0;
  for (let i = 0; i < 1000; i++) {
    const m = transactionMessage(withoutLabels(sample.next()), { source: '/attack-generator' });
    bytes += String(m.key).length + String(m.value).length;
    for (const [k, v] of Object.entries(m.headers ?? {})) bytes += k.length + String(v).length;
  }
  const recordSize = Math.round(bytes / 1000);
  // Interleaved rounds: the machine's load drifts, so each ratio compares runs taken back to back.
  const javaRun = async (records = count) => {
    const java = await run('java', [
      '-Xms256m',
      '-Xmx512m',
      `-Dlog4j2.configurationFile=${kafka.install.log4jConfig}`,
      '-cp',
      kafka.install.classpath,
      'org.apache.kafka.tools.ProducerPerformance',
      '--topic',
      'bench-java',
      '--num-records',
      String(records),
      '--record-size',
      String(recordSize),
      '--throughput',
      '-1',
      '--producer-props',
      `bootstrap.servers=${kafka.bootstrap}`,
      'acks=all',
    ]);
    const rate = Number(java.stdout.match(/(\d+) records sent, ([\d.]+) records\/sec/)?.[2]);
    if (!Number.isFinite(rate))
      throw new Error(
        `ProducerPerformance printed no summary:\n${java.stdout.slice(-1500)}${java.stderr.slice(-1500)}`,
      );
    return rate;
  };
  const load = () =>
    os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ');
  const median = (xs: number[]) => {
    const v = [...xs].sort((a, b) => a - b);
    const m = Math.floor(v.length / 2);
    return v.length % 2 ? (v[m] as number) : ((v[m - 1] as number) + (v[m] as number)) / 2;
  };
  const rounds = quick ? 3 : 5;
  // The generator as it runs by default, and two references taken in the same round: kafkajs' own record
  // encoder and partitioner on one producer (the code before the fast path) and the fast path on one thread.
  const variants: { name: string; args: string[] }[] = [
    { name: 'attack (defaults)', args: [] },
    { name: 'attack, 1 producer', args: ['--producers', '1'] },
    { name: 'attack, 1 producer, kafkajs encoder', args: ['--producers', '1', '--encoder', 'kafkajs'] },
  ];
  console.log(
    `\n1. top rate: ${count} records of ~${recordSize} B each, acks=all, no compression, 6 partitions; ` +
      `${rounds} interleaved rounds (${os.availableParallelism()} cores)`,
  );
  const maxRateAttack = (records: number, extra: string[] = []) =>
    attack([
      '--bootstrap',
      kafka.bootstrap,
      '--topic',
      'bench-attack',
      '--rate',
      'max',
      '--count',
      String(records),
      ...extra,
    ]);
  // Warm-up, not counted: the first producer against a fresh broker meets a cold JVM.
  await javaRun(Math.round(count / 5));
  await maxRateAttack(Math.round(count / 5));
  const ratios = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  const rates = new Map<string, number[]>([
    ...variants.map((v) => [v.name, []] as [string, number[]]),
    ['ProducerPerformance', []],
  ]);
  for (let round = 1; round <= rounds; round++) {
    const got: [string, number][] = [];
    for (const v of variants) {
      const s = await maxRateAttack(count, v.args);
      if (s.errors > 0 || s.acknowledged !== count)
        throw new Error(`${v.name}: ${s.acknowledged}/${count} acknowledged, ${s.errors} errors`);
      got.push([v.name, s.achievedRate]);
    }
    const javaRate = await javaRun();
    rates.get('ProducerPerformance')?.push(javaRate);
    console.log(`   round ${round} (load ${load()})`);
    for (const [name, rate] of got) {
      rates.get(name)?.push(rate);
      ratios.get(name)?.push(rate / javaRate);
      console.log(
        `     ${name.padEnd(38)} ${rate.toFixed(0).padStart(6)} ev/s  ratio ${(rate / javaRate).toFixed(2)}`,
      );
    }
    console.log(`     ${'ProducerPerformance'.padEnd(38)} ${javaRate.toFixed(0).padStart(6)} ev/s`);
  }
  console.log(
    '   summary: median rate [min..max]; median ratio to ProducerPerformance of the same round [min..max]',
  );
  for (const [name, rs] of rates) {
    const r = ratios.get(name);
    const span = (xs: number[], d: number) =>
      `${median(xs).toFixed(d)} [${Math.min(...xs).toFixed(d)}..${Math.max(...xs).toFixed(d)}]`;
    console.log(
      `     ${name.padEnd(38)} ${span(rs, 0).padStart(22)} ev/s${r ? `  ratio ${span(r, 2)}${name === variants[0]?.name ? ' (target >= 0.80)' : ''}` : ''}`,
    );
  }

  // 2. Rate accuracy: sent events / (rate * duration) over a bounded run per rate.
  console.log(`\n2. rate accuracy (steady shape, defaults; load ${load()})`);
  const seconds = quick ? 3 : 6;
  for (const rate of [100, 1000, 5000, 20_000]) {
    const s = await attack([
      '--bootstrap',
      kafka.bootstrap,
      '--topic',
      'bench-attack',
      '--rate',
      String(rate),
      '--duration',
      String(seconds),
    ]);
    const achieved = s.acknowledged / s.seconds;
    const error = (achieved - rate) / rate;
    console.log(
      `   target ${String(rate).padStart(6)} ev/s  achieved ${achieved.toFixed(0).padStart(6)} ev/s  sent ${s.sent}/${rate * seconds}  error ${(error * 100).toFixed(1)}% ${Math.abs(error) <= 0.05 ? '(within ±5%)' : '(OUTSIDE ±5%)'}  run ${s.seconds.toFixed(2)} s`,
    );
  }
}
