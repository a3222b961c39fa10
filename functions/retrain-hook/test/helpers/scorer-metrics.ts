// A /metrics endpoint in the shape of Knative's queue-proxy (revision_app_request_count and
// revision_app_request_latencies), whose traffic per revision the test controls, so a real Prometheus
// scrapes it and the hook's real default canary queries run against it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RevisionTraffic {
  rps: number;
  errorRate: number;
  latencyMs: number;
}

const BUCKETS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

export async function startQueueProxyMetrics(namespace: string) {
  const traffic = new Map<string, RevisionTraffic>();
  const counts = new Map<string, { ok: number; errors: number; buckets: number[]; sum: number }>();
  const tick = setInterval(() => {
    for (const [revision, t] of traffic) {
      const c = counts.get(revision) ?? { ok: 0, errors: 0, buckets: BUCKETS.map(() => 0), sum: 0 };
      const n = t.rps / 10;
      c.errors += n * t.errorRate;
      c.ok += n * (1 - t.errorRate);
      BUCKETS.forEach((le, i) => {
        if (t.latencyMs <= le) c.buckets[i] = (c.buckets[i] ?? 0) + n;
      });
      c.sum += n * t.latencyMs;
      counts.set(revision, c);
    }
  }, 100);
  const server = http.createServer((_req, res) => {
    const lines: string[] = [];
    for (const [revision, c] of counts) {
      const labels = `namespace_name="${namespace}",revision_name="${revision}"`;
      lines.push(`revision_app_request_count{${labels},response_code_class="2xx"} ${c.ok}`);
      lines.push(`revision_app_request_count{${labels},response_code_class="5xx"} ${c.errors}`);
      for (const [i, le] of BUCKETS.entries()) {
        lines.push(`revision_app_request_latencies_bucket{${labels},le="${le}"} ${c.buckets[i]}`);
      }
      lines.push(`revision_app_request_latencies_bucket{${labels},le="+Inf"} ${c.ok + c.errors}`);
      lines.push(`revision_app_request_latencies_sum{${labels}} ${c.sum}`);
      lines.push(`revision_app_request_latencies_count{${labels}} ${c.ok + c.errors}`);
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
