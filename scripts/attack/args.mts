// The attack generator's command line: parsed and checked here, so every mistake gets a clear message
// naming the option before anything is sent.
import os from 'node:os';
import { minimist } from 'zx';
import { repeatedOptions } from '../lib/options.mts';

export type Target = 'kafka' | 'http' | 'both';

export interface AttackOptions {
  target: Target;
  /** Events per second, or 'max' (as fast as the target takes them; needs --count). */
  rate: number | 'max';
  durationSeconds?: number;
  count?: number;
  shape: string;
  concurrency: number;
  fraudRatio: number;
  /** Pattern weights (legit, card_testing, account_takeover, ...); overrides fraudRatio when given. */
  mix?: Record<string, number>;
  seed: number;
  mode: 'binary' | 'structured';
  bootstrap: string;
  topic: string;
  decisionsTopic: string;
  group: string;
  url: string;
  untilAlert?: string;
  alertmanagerUrl: string;
  reportDir: string;
  quiet: boolean;
  batchSize: number;
  /** Kafka producers, each in its own worker thread when more than 1. */
  producers: number;
  /** Kafka record encoding and partitioning: the lean drop-ins in this folder, or kafkajs' own. */
  encoder: 'fast' | 'kafkajs';
  /** Hold new events back while the dispatcher group's consumer lag is above this (kafka targets only). */
  maxLag?: number;
  /** Publish ground truth for what was sent (labels.mts); undefined without --labels. */
  labels?: {
    topic: string;
    labelDelaySeconds: number;
    chargebackDelaySeconds: number;
    coverage: number;
  };
}

export class UsageError extends Error {}

/** `--help`: not a mistake, so the CLI prints the usage on stdout and exits 0. */
export class HelpRequested extends Error {}

/** One producer per core (kafkajs encodes on the thread that sends), at most 8. */
export function defaultProducers(): number {
  return Math.max(1, Math.min(8, os.availableParallelism()));
}

export const usage = `npm run attack -- [options]   (bounded: --duration or --count is required)

  --target kafka|http|both    where to send (default kafka)
  --rate N|max                events per second (default 100); max needs --count
  --duration S                seconds to run
  --count N                   events to send
  --shape steady|ramp|spike|profile:<file>   load shape (default steady)
  --concurrency C             requests (http) or produce calls (kafka) in flight (default 8)
  --fraud-ratio R             share of fraud patterns among events, 0..1 (default 0.02)
  --mix legit=0.9,card_testing=0.07,account_takeover=0.03   pattern weights (overrides --fraud-ratio)
  --seed S                    generator seed (default 42)
  --mode binary|structured    Kafka CloudEvent content mode (default binary)
  --bootstrap host:port       Kafka (default $KAFKA_BOOTSTRAP or 127.0.0.1:9092)
  --topic T --decisions-topic T --group G   topics and the dispatcher's consumer group (for lag)
  --url URL                   scorer for --target http (default $SCORER_URL or http://127.0.0.1:8080/)
  --until-alert NAME          stop as soon as Alertmanager reports NAME firing
  --max-lag N                 hold new events back while the consumer lag of --group is above N, so a long
                              attack keeps the path saturated without an unbounded backlog (kafka only)
  --alertmanager-url URL      (default $ALERTMANAGER_URL or http://127.0.0.1:9193)
  --report-dir DIR            where the JSON and HTML report go (default reports/)
  --producers N               Kafka producers, each in a worker thread when N > 1 (default: the
                              machine's available parallelism, at most 8)
  --batch-size N              most messages per produce call (default 500)
  --encoder fast|kafkajs      Kafka record encoder and partitioner (default fast: same bytes, less CPU)
  --labels                    also publish ground truth (dev.fraud.label.v1) for what was sent, to Kafka
  --labels-topic T            where labels go (default labels)
  --label-delay S             mean delay of an analyst's label, seconds (default 5)
  --chargeback-delay S        mean delay of a fraud's chargeback label, seconds (default 30)
  --label-coverage R          share of transactions an analyst reviews, 0..1 (default 0.3); legit ones are
                              labelled only then, every fraud is also charged back
  --quiet                     no progress display`;

const known = new Set([
  '_',
  'target',
  'rate',
  'duration',
  'count',
  'shape',
  'concurrency',
  'fraud-ratio',
  'mix',
  'seed',
  'mode',
  'bootstrap',
  'topic',
  'decisions-topic',
  'group',
  'url',
  'until-alert',
  'max-lag',
  'alertmanager-url',
  'report-dir',
  'quiet',
  'batch-size',
  'producers',
  'encoder',
  'labels',
  'labels-topic',
  'label-delay',
  'chargeback-delay',
  'label-coverage',
  'help',
]);

function positive(name: string, raw: unknown, integer: boolean, allowZero = false): number {
  const value = Number(raw);
  const ok =
    Number.isFinite(value) && (allowZero ? value >= 0 : value > 0) && (!integer || Number.isInteger(value));
  if (raw === true || raw === '' || !ok) {
    throw new UsageError(
      `--${name} must be a ${integer ? 'whole' : ''} number ${allowZero ? '>= 0' : '> 0'}, got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

function parseMix(raw: string): Record<string, number> {
  const mix: Record<string, number> = {};
  for (const part of raw.split(',').filter(Boolean)) {
    const [name, weight] = part.split('=');
    const w = Number(weight);
    if (!name || weight === undefined || !Number.isFinite(w) || w < 0) {
      throw new UsageError(
        `--mix expects pattern=weight pairs like legit=0.9,card_testing=0.1, got ${JSON.stringify(part)}`,
      );
    }
    mix[name] = w;
  }
  if (Object.values(mix).reduce((a, b) => a + b, 0) <= 0)
    throw new UsageError('--mix weights must add up to more than 0');
  return mix;
}

export function parseArgs(
  argv: string[],
  env: Record<string, string | undefined> = process.env,
): AttackOptions {
  const a = minimist(argv, {
    string: [
      'target',
      'shape',
      'mix',
      'mode',
      'bootstrap',
      'topic',
      'decisions-topic',
      'group',
      'url',
      'until-alert',
      'alertmanager-url',
      'report-dir',
      'rate',
      'encoder',
      'labels-topic',
    ],
    boolean: ['quiet', 'help', 'labels'],
  });
  if (a.help) throw new HelpRequested(usage);
  const unknown = Object.keys(a).filter((k) => !known.has(k));
  if (unknown.length)
    throw new UsageError(`unknown option(s): ${unknown.map((k) => `--${k}`).join(', ')}\n\n${usage}`);
  if (a._.length) throw new UsageError(`unexpected argument(s): ${a._.join(' ')}`);
  const repeated = repeatedOptions(a);
  if (repeated.length)
    throw new UsageError(`given more than once: ${repeated.map((k) => `--${k}`).join(', ')}`);

  const target = (a.target ?? 'kafka') as Target;
  if (!['kafka', 'http', 'both'].includes(target)) {
    throw new UsageError(`--target must be kafka, http or both, got ${JSON.stringify(a.target)}`);
  }
  const durationSeconds = a.duration === undefined ? undefined : positive('duration', a.duration, false);
  const count = a.count === undefined ? undefined : positive('count', a.count, true);
  const shape = a.shape ?? 'steady';
  if (durationSeconds === undefined && count === undefined && !shape.startsWith('profile:')) {
    throw new UsageError('refusing to run unbounded: give --duration <seconds> or --count <events>');
  }
  const rate = a.rate === 'max' ? 'max' : positive('rate', a.rate ?? 100, false);
  if (rate === 'max' && count === undefined) throw new UsageError('--rate max needs --count');
  if (rate === 'max' && shape !== 'steady') throw new UsageError('--rate max only works with --shape steady');
  const fraudRatio = a['fraud-ratio'] === undefined ? 0.02 : Number(a['fraud-ratio']);
  if (!(fraudRatio >= 0 && fraudRatio <= 1)) {
    throw new UsageError(`--fraud-ratio must be within 0..1, got ${JSON.stringify(a['fraud-ratio'])}`);
  }
  const mode = (a.mode ?? 'binary') as AttackOptions['mode'];
  if (mode !== 'binary' && mode !== 'structured') {
    throw new UsageError(`--mode must be binary or structured, got ${JSON.stringify(a.mode)}`);
  }
  const bootstrap = a.bootstrap ?? env.KAFKA_BOOTSTRAP ?? '127.0.0.1:9092';
  if (!/^[^:\s]+:\d+$/.test(bootstrap))
    throw new UsageError(`--bootstrap must be host:port, got ${JSON.stringify(bootstrap)}`);
  const url = a.url ?? env.SCORER_URL ?? 'http://127.0.0.1:8080/';
  const alertmanagerUrl = a['alertmanager-url'] ?? env.ALERTMANAGER_URL ?? 'http://127.0.0.1:9193';
  for (const [name, value] of [
    ['url', url],
    ['alertmanager-url', alertmanagerUrl],
  ] as const) {
    try {
      if (!/^https?:$/.test(new URL(value).protocol)) throw new Error();
    } catch {
      throw new UsageError(`--${name} must be an http(s) URL, got ${JSON.stringify(value)}`);
    }
  }
  const encoder = (a.encoder ?? 'fast') as AttackOptions['encoder'];
  if (encoder !== 'fast' && encoder !== 'kafkajs') {
    throw new UsageError(`--encoder must be fast or kafkajs, got ${JSON.stringify(a.encoder)}`);
  }
  const untilAlert = a['until-alert'];
  if (untilAlert !== undefined && !/^[A-Za-z_:][A-Za-z0-9_:]*$/.test(untilAlert)) {
    throw new UsageError(`--until-alert must be an alert name, got ${JSON.stringify(untilAlert)}`);
  }
  const maxLag = a['max-lag'] === undefined ? undefined : positive('max-lag', a['max-lag'], true);
  if (maxLag !== undefined && target === 'http') {
    throw new UsageError('--max-lag reads the Kafka consumer lag: it needs --target kafka or both');
  }
  const labelFlags = ['labels-topic', 'label-delay', 'chargeback-delay', 'label-coverage'].filter(
    (k) => a[k] !== undefined,
  );
  if (!a.labels && labelFlags.length) {
    throw new UsageError(`${labelFlags.map((k) => `--${k}`).join(', ')} need(s) --labels`);
  }
  let labels: AttackOptions['labels'];
  if (a.labels) {
    const coverage = a['label-coverage'] === undefined ? 0.3 : Number(a['label-coverage']);
    if (a['label-coverage'] === true || !(coverage >= 0 && coverage <= 1)) {
      throw new UsageError(
        `--label-coverage must be within 0..1, got ${JSON.stringify(a['label-coverage'])}`,
      );
    }
    const topic = a['labels-topic'] ?? 'labels';
    if (!/^[A-Za-z0-9._-]{1,249}$/.test(topic)) {
      throw new UsageError(`--labels-topic must be a Kafka topic name, got ${JSON.stringify(topic)}`);
    }
    labels = {
      topic,
      labelDelaySeconds:
        a['label-delay'] === undefined ? 5 : positive('label-delay', a['label-delay'], false, true),
      chargebackDelaySeconds:
        a['chargeback-delay'] === undefined
          ? 30
          : positive('chargeback-delay', a['chargeback-delay'], false, true),
      coverage,
    };
  }
  return {
    target,
    rate,
    durationSeconds,
    count,
    shape,
    concurrency: a.concurrency === undefined ? 8 : positive('concurrency', a.concurrency, true),
    fraudRatio,
    mix: a.mix === undefined ? undefined : parseMix(String(a.mix)),
    seed: a.seed === undefined ? 42 : positive('seed', a.seed, true, true),
    mode,
    bootstrap,
    topic: a.topic ?? 'transactions',
    decisionsTopic: a['decisions-topic'] ?? 'decisions',
    group: a.group ?? 'fraud-scorer-local',
    url,
    untilAlert,
    maxLag,
    alertmanagerUrl,
    reportDir: a['report-dir'] ?? 'reports',
    quiet: Boolean(a.quiet),
    batchSize: a['batch-size'] === undefined ? 500 : positive('batch-size', a['batch-size'], true),
    producers: a.producers === undefined ? defaultProducers() : positive('producers', a.producers, true),
    encoder,
    labels,
  };
}
