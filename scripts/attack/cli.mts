#!/usr/bin/env -S npx tsx
// `npm run attack -- ...`: floods the Kafka path (or the scorer over HTTP) with transactions from the shared
// generator at a controlled rate, shows progress, and writes reports/attack-<time>.{json,html}.
// Always bounded: it refuses to start without --duration or --count. See scripts/attack/README.md.
import { pathToFileURL } from 'node:url';
import { type AttackOptions, HelpRequested, parseArgs, UsageError } from './args.mts';
import { makeDisplay } from './display.mts';
import { LabelPublisher, type LabelStats } from './labels.mts';
import { alertFiring, KafkaMonitor } from './monitor.mts';
import { makePayload } from './payload.mts';
import { writeReport } from './report.mts';
import { LatencyWindow, runAttack } from './run.mts';
import { makeShape, ShapeError } from './shapes.mts';
import { HttpTarget, KafkaTarget, KafkaWorkersTarget, type Target } from './targets.mts';

let runs = 0;

export async function attack(options: AttackOptions, out: NodeJS.WriteStream = process.stderr) {
  const shape = makeShape(options.shape, options.rate === 'max' ? 0 : options.rate, options.durationSeconds);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const payload = makePayload({
    seed: options.seed,
    fraudRatio: options.fraudRatio,
    mix: options.mix,
    prefix: `atk-${options.seed}-${stamp}-${process.pid}-${++runs}`,
  });
  const latency = new LatencyWindow();
  const onLatency = (ms: number) => latency.add(ms);
  const targets: Target[] = [];
  if (options.target !== 'http') {
    targets.push(
      options.producers > 1
        ? new KafkaWorkersTarget(options, onLatency)
        : new KafkaTarget({ ...options, batchSize: options.batchSize }, onLatency),
    );
  }
  if (options.target !== 'kafka') targets.push(new HttpTarget(options.url, options.concurrency, onLatency));
  const monitor = options.target !== 'http' ? new KafkaMonitor(options) : undefined;
  const labels = options.labels
    ? new LabelPublisher({ ...options.labels, bootstrap: options.bootstrap, seed: options.seed })
    : undefined;
  for (const t of targets) await t.connect();
  await monitor?.connect();
  await labels?.connect();

  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
  };
  process.once('SIGINT', onSigint);
  const display = makeDisplay(out, options.quiet);
  try {
    const result = await runAttack(options, shape, targets, payload, latency, {
      lag: monitor ? () => monitor.lag() : undefined,
      decisions: monitor ? () => monitor.decisionsSeen() : undefined,
      alert: options.untilAlert
        ? () => alertFiring(options.alertmanagerUrl, options.untilAlert as string)
        : undefined,
      onSample: (s) => display.sample(s),
      onSend: labels ? (events) => labels.observe(events) : undefined,
      aborted: () => interrupted,
    });
    display.end();
    let labelStats: LabelStats | undefined;
    if (labels) {
      if (!options.quiet && labels.pending > 0) {
        out.write(
          `waiting ${(labels.remainingMs / 1000).toFixed(0)} s for ${labels.pending} labels to come due\n`,
        );
      }
      labelStats = await labels.finish();
    }
    // Give the path a moment to finish what was acknowledged, so the report's last lag/decisions mean something.
    const lag = await monitor?.lag();
    const decisions = await monitor?.decisionsSeen();
    const summary = {
      target: options.target,
      shape: options.shape,
      requestedRate: options.rate,
      seconds: Number(result.seconds.toFixed(2)),
      sent: result.sent,
      acknowledged: result.acked,
      errors: result.errors,
      achievedRate: Number((result.acked / Math.max(result.seconds, 1e-3)).toFixed(1)),
      stopReason: result.stopReason,
      maxLag: options.maxLag ?? null,
      heldBackForLag: result.heldBack,
      untilAlert: options.untilAlert ?? null,
      alertAfterSeconds: result.alertAfterSeconds ?? null,
      lagAtEnd: lag ?? null,
      decisionsSeen: decisions ?? null,
      // Decisions that reached the decisions topic per second of the run: below achievedRate means the
      // path behind Kafka (dispatcher, scorer, sink) did not keep up, and lagAtEnd says by how much.
      decisionRate:
        decisions === undefined ? null : Number((decisions / Math.max(result.seconds, 1e-3)).toFixed(1)),
      patterns: payload.counts,
      encoder: targets.find((t) => t.recordEncoder)?.recordEncoder ?? null,
      lastError: result.lastError ?? null,
      labels: labelStats ?? null,
    };
    const files = writeReport(options.reportDir, `attack-${stamp}`, {
      summary,
      options,
      samples: result.samples,
    });
    return { summary, files, result };
  } finally {
    process.removeListener('SIGINT', onSigint);
    await Promise.all(targets.map((t) => t.close()));
    await monitor?.close();
    await labels?.close();
  }
}

async function main(): Promise<void> {
  let options: AttackOptions;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof HelpRequested) {
      console.log(err.message);
      return;
    }
    if (err instanceof UsageError) {
      console.error(`attack: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  try {
    const { summary, files } = await attack(options);
    console.log(JSON.stringify(summary, null, 2));
    if (summary.decisionRate !== null)
      console.error(
        `decisions: ${summary.decisionRate}/s over the run (sent ${summary.achievedRate}/s); consumer lag at the end: ${summary.lagAtEnd ?? 'unknown'}`,
      );
    console.error(`report: ${files.json}\nchart:  ${files.html}`);
    if (options.untilAlert && summary.alertAfterSeconds === null) {
      console.error(`attack: ${options.untilAlert} did not fire before the run ended`);
      process.exitCode = 3;
    }
  } catch (err) {
    const usage = err instanceof UsageError || err instanceof ShapeError;
    console.error(`attack: ${(err as Error).message}`);
    process.exit(usage ? 2 : 1);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
