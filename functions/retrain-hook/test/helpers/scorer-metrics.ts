// A /metrics endpoint in the shape of the scorer's own metrics as Prometheus stores them on the cluster
// (fraud_scorer_requests_total{route,outcome} and fraud_scorer_request_duration_seconds, with the
// `namespace` and `revision` labels monitoring/podmonitors.yaml adds from the Knative pod labels), whose
// traffic per revision the test controls. A real Prometheus scrapes it and the hook's real default canary
// queries run against it. It is not a scorer: real scorer processes per revision are left for later.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RevisionTraffic {
  rps: number;
  /** Share of requests answered 5xx (outcome "error"). */
  errorRate: number;
  latencyMs: number;
}

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

export async function startScorerMetrics(namespace: string) {
  const traffic = new Map<string, RevisionTraffic>();
  const counts = new Map<string, { ok: number; errors: number; buckets: number[]; sum: number }>();
  const tick = setInterval(() => {
    for (const [revision, t] of traffic) {
      const c = counts.get(revision) ?? { ok: 0, errors: 0, buckets: BUCKETS.map(() => 0), sum: 0 };
      const n = t.rps / 10;
      c.errors += n * t.errorRate;
      c.ok += n * (1 - t.errorRate);
      for (const [i, le] of BUCKETS.entries()) {
        if (t.latencyMs / 1000 <= le) c.buckets[i] = (c.buckets[i] ?? 0) + n * (1 - t.errorRate);
      }
      c.sum += (n * (1 - t.errorRate) * t.latencyMs) / 1000;
      counts.set(revision, c);
    }
  }, 100);
  const server = http.createServer((_req, res) => {
    const lines: string[] = [];
    for (const [revision, c] of counts) {
      const labels = `namespace="${namespace}",revision="${revision}",route="score"`;
      lines.push(`fraud_scorer_requests_total{${labels},outcome="ok"} ${c.ok}`);
      lines.push(`fraud_scorer_requests_total{${labels},outcome="error"} ${c.errors}`);
      const ok = `${labels},outcome="ok"`;
      for (const [i, le] of BUCKETS.entries()) {
        lines.push(`fraud_scorer_request_duration_seconds_bucket{${ok},le="${le}"} ${c.buckets[i]}`);
      }
      lines.push(`fraud_scorer_request_duration_seconds_bucket{${ok},le="+Inf"} ${c.ok}`);
      lines.push(`fraud_scorer_request_duration_seconds_sum{${ok}} ${c.sum}`);
      lines.push(`fraud_scorer_request_duration_seconds_count{${ok}} ${c.ok}`);
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(`${lines.join('\n')}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    target: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    set(revision: string, t: RevisionTraffic) {
      traffic.set(revision, t);
    },
    async stop() {
      clearInterval(tick);
      await new Promise((r) => server.close(r));
    },
  };
}
