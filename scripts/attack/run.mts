// The attack loop: every tick the pacer says how many events are due; they go out in batches while the
// target has room (concurrency), the rest waits as backlog. Once a second a sample goes to the timeline.
import type { Transaction } from '@fraud/transactions';
import type { AttackOptions } from './args.mts';
import { Pacer } from './pacer.mts';
import type { Payload } from './payload.mts';
import type { Shape } from './shapes.mts';
import type { Target } from './targets.mts';

export interface Sample {
  t: number;
  targetRate: number;
  sentRate: number;
  ackedRate: number;
  sent: number;
  acked: number;
  errors: number;
  p50Ms: number | null;
  p99Ms: number | null;
  lag: number | null;
  decisions: number | null;
  backlog: number;
}

export interface RunResult {
  samples: Sample[];
  sent: number;
  acked: number;
  errors: number;
  seconds: number;
  stopReason: string;
  /** Events the pacer made due but that were not sent because the consumer lag was above --max-lag. */
  heldBack: number;
  alertAfterSeconds?: number;
  lastError?: string;
}

export interface Observers {
  lag?: () => Promise<number | undefined>;
  decisions?: () => Promise<number | undefined>;
  alert?: () => Promise<boolean>;
  onSample?: (sample: Sample) => void;
  /** The events just handed to a target, with their truth (the label publisher plans their labels). */
  onSend?: (events: { tx: Transaction; isFraud: boolean }[]) => void;
  /** Ends the run early (SIGINT). */
  aborted?: () => boolean;
}

export class LatencyWindow {
  private values: number[] = [];
  add(ms: number): void {
    if (this.values.length < 100_000) this.values.push(ms);
  }
  takePercentiles(): { p50: number | null; p99: number | null } {
    const v = this.values.sort((a, b) => a - b);
    this.values = [];
    if (v.length === 0) return { p50: null, p99: null };
    const at = (q: number) => v[Math.min(v.length - 1, Math.floor(q * v.length))] as number;
    return { p50: at(0.5), p99: at(0.99) };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runAttack(
  options: Pick<AttackOptions, 'rate' | 'count' | 'durationSeconds' | 'concurrency' | 'maxLag'>,
  shape: Shape,
  targets: Target[],
  payload: Payload,
  latency: LatencyWindow,
  observers: Observers = {},
): Promise<RunResult> {
  const max = options.rate === 'max';
  const durationSeconds =
    options.durationSeconds ?? (options.count === undefined ? shape.lengthSeconds : undefined);
  const pacer = new Pacer({
    rate: max ? () => 0 : shape.rate,
    count: options.count,
    durationSeconds,
  });
  const start = performance.now();
  const now = () => (performance.now() - start) / 1000;
  const samples: Sample[] = [];
  let backlog = 0;
  let issuedMax = 0;
  let stopReason = options.count !== undefined ? 'count reached' : 'duration over';
  let alertAfterSeconds: number | undefined;
  // The newest consumer lag a sample read; above --max-lag the due events are dropped, not queued, so the
  // backlog behind Kafka stays bounded while the path behind it is kept busy.
  let lastLag: number | undefined;
  let heldBack = 0;
  const lagTooHigh = () => options.maxLag !== undefined && lastLag !== undefined && lastLag > options.maxLag;
  const totals = () =>
    targets.reduce(
      (s, t) => ({
        sent: s.sent + t.stats.sent,
        acked: s.acked + t.stats.acked,
        errors: s.errors + t.stats.errors,
      }),
      { sent: 0, acked: 0, errors: 0 },
    );
  let last = { t: 0, sent: 0, acked: 0 };
  // The sample being taken, if any: its lag/decisions queries must finish before the caller closes the Kafka
  // admin, or kafkajs reconnects for them after the disconnect and the open socket keeps the CLI alive.
  let sampling: Promise<void> | undefined;
  const sampleOnce = async () => {
    const t = now();
    const tot = totals();
    const { p50, p99 } = latency.takePercentiles();
    const [lag, decisions] = await Promise.all([
      observers.lag?.().catch(() => undefined),
      observers.decisions?.().catch(() => undefined),
    ]);
    lastLag = lag;
    const dt = Math.max(1e-3, t - last.t);
    const sample: Sample = {
      t: Number(t.toFixed(3)),
      targetRate: max ? Number.NaN : shape.rate(t),
      sentRate: (tot.sent - last.sent) / dt,
      ackedRate: (tot.acked - last.acked) / dt,
      ...tot,
      p50Ms: p50,
      p99Ms: p99,
      lag: lag ?? null,
      decisions: decisions ?? null,
      backlog,
    };
    last = { t, sent: tot.sent, acked: tot.acked };
    samples.push(sample);
    observers.onSample?.(sample);
  };
  const takeSample = () => {
    sampling ??= sampleOnce().finally(() => {
      sampling = undefined;
    });
    return sampling;
  };
  const sampler = setInterval(() => void takeSample(), 1000);
  let alertBusy = false;
  let alertSeen = false;
  const alertPoll = observers.alert
    ? setInterval(() => {
        if (alertBusy) return;
        alertBusy = true;
        observers
          .alert?.()
          .then((firing) => {
            if (firing && !alertSeen) {
              alertSeen = true;
              alertAfterSeconds = now();
            }
          })
          .catch(() => {})
          .finally(() => {
            alertBusy = false;
          });
      }, 2000)
    : undefined;

  // Each target has its own backlog; due events are dealt to the target that was given fewer so far, so
  // with --target both each gets half the rate whether or not the other keeps up.
  const backlogs = targets.map(() => 0);
  const assigned = targets.map(() => 0);
  const deal = (n: number) => {
    for (let k = 0; k < n; k++) {
      let i = 0;
      for (let j = 1; j < targets.length; j++) if ((assigned[j] as number) < (assigned[i] as number)) i = j;
      assigned[i] = (assigned[i] as number) + 1;
      backlogs[i] = (backlogs[i] as number) + 1;
    }
    backlog += n;
  };
  const sendSome = () => {
    for (const [i, target] of targets.entries()) {
      while ((backlogs[i] as number) > 0 && target.inFlight < options.concurrency) {
        const n = Math.min(backlogs[i] as number, target.batchSize);
        const picked = Array.from({ length: n }, () => payload.next());
        backlogs[i] = (backlogs[i] as number) - n;
        backlog -= n;
        target.send(picked.map((p) => p.tx));
        observers.onSend?.(picked);
      }
    }
  };
  try {
    for (;;) {
      const t = now();
      if (alertSeen) {
        stopReason = 'alert firing';
        break;
      }
      if (observers.aborted?.()) {
        stopReason = 'interrupted';
        break;
      }
      if (max) {
        if (issuedMax >= (options.count as number) && backlog === 0) break;
        const want = Math.min(
          (options.count as number) - issuedMax,
          targets.length * options.concurrency * 500,
        );
        const add = lagTooHigh() ? 0 : Math.max(0, want - backlog);
        deal(add);
        issuedMax += add;
      } else {
        if (pacer.done(t) && backlog === 0) break;
        const due = pacer.due(t);
        if (lagTooHigh()) heldBack += due;
        else deal(due);
      }
      sendSome();
      // Short ticks keep batches small and the rate smooth; a busy target gets a little more time.
      await sleep(1);
      if (durationSeconds !== undefined && t > durationSeconds + 5) {
        stopReason = 'duration over (backlog dropped)';
        break;
      }
    }
    await Promise.all(targets.map((t) => t.drain()));
  } finally {
    clearInterval(sampler);
    if (alertPoll) clearInterval(alertPoll);
  }
  const seconds = now();
  await sampling;
  await takeSample();
  const tot = totals();
  return {
    samples,
    ...tot,
    seconds,
    stopReason,
    heldBack,
    alertAfterSeconds,
    lastError: targets.map((t) => t.stats.lastError).find(Boolean),
  };
}
