// Production-like traffic for the score revisions: real transactions from the shared synthetic generator
// (@fraud/transactions, labels stripped), POSTed one per request to /score, split across revisions in the
// proportions of status.traffic (smooth weighted round-robin, so a 10 % canary gets every tenth request
// rather than random bursts). The rate and the requests in flight are bounded. Optionally a share of the
// requests is bad input (a negative amount: 400 from any scorer), spread evenly over every revision.
import { TransactionSource, withoutLabels } from '@fraud/transactions';
import type { Route } from './revision-routes.ts';

export interface FeederOptions {
  routes: () => Route[];
  /** Requests per second over all revisions. */
  rps?: number;
  maxInFlight?: number;
  seed?: number;
}

export interface TrafficFeeder {
  /** When set to n, every n-th request each revision receives carries a negative amount (bad input). */
  badInputEvery: number | undefined;
  /** Answers per revision and HTTP status (status 0: no answer). */
  answers: Map<string, Map<number, number>>;
  stop(): Promise<void>;
}

export function startTrafficFeeder(options: FeederOptions): TrafficFeeder {
  const rps = options.rps ?? 40;
  const maxInFlight = options.maxInFlight ?? 16;
  const source = new TransactionSource({ seed: options.seed ?? 20261128, idPrefix: 'feeder' });
  const credit = new Map<string, number>();
  const answers = new Map<string, Map<number, number>>();
  const pending = new Set<Promise<void>>();
  const sent = new Map<string, number>();
  const feeder: TrafficFeeder = { badInputEvery: undefined, answers, stop: async () => {} };

  const pick = (routes: Route[]): Route | undefined => {
    for (const revision of credit.keys())
      if (!routes.some((r) => r.revision === revision)) credit.delete(revision);
    let best: Route | undefined;
    let total = 0;
    for (const route of routes) {
      total += route.percent;
      const c = (credit.get(route.revision) ?? 0) + route.percent;
      credit.set(route.revision, c);
      if (!best || c > (credit.get(best.revision) ?? 0)) best = route;
    }
    if (best) credit.set(best.revision, (credit.get(best.revision) ?? 0) - total);
    return best;
  };

  const count = (revision: string, status: number) => {
    const byStatus = answers.get(revision) ?? new Map<number, number>();
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
    answers.set(revision, byStatus);
  };

  const timer = setInterval(() => {
    if (pending.size >= maxInFlight) return; // the scorers are slow right now: skip, never queue up
    const route = pick(options.routes());
    if (!route) return;
    const n = (sent.get(route.revision) ?? 0) + 1;
    sent.set(route.revision, n);
    const transaction = withoutLabels(source.next());
    if (feeder.badInputEvery && n % feeder.badInputEvery === 0) transaction.amount = -1;
    const request = fetch(`${route.url}/score`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(transaction),
      signal: AbortSignal.timeout(5000),
    })
      .then(async (response) => {
        await response.arrayBuffer();
        count(route.revision, response.status);
      })
      .catch(() => count(route.revision, 0))
      .finally(() => pending.delete(request));
    pending.add(request);
  }, 1000 / rps);

  feeder.stop = async () => {
    clearInterval(timer);
    await Promise.allSettled([...pending]);
  };
  return feeder;
}
