// A small real HTTP sink for tests: records every request and answers what the test tells it to.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  id: string;
  type: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  attempt: number;
  partitionkey?: string;
  /** performance.now() when the request arrived. */
  at: number;
}

export interface TestSink {
  url: string;
  received: Received[];
  /** ids answered 2xx (first success only). */
  accepted: Set<string>;
  /** Most requests open at the same time, per partition key and in total. */
  maxConcurrent: number;
  close(): Promise<void>;
}

export async function startTestSink(
  answer: (request: Received) => number | Promise<number> = () => 200,
  delayMs = 0,
): Promise<TestSink> {
  const attempts = new Map<string, number>();
  const sink: TestSink = {
    url: '',
    received: [],
    accepted: new Set(),
    maxConcurrent: 0,
    close: async () => {},
  };
  let open = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      open++;
      sink.maxConcurrent = Math.max(sink.maxConcurrent, open);
      const id = String(req.headers['ce-id'] ?? '');
      const attempt = (attempts.get(id) ?? 0) + 1;
      attempts.set(id, attempt);
      const received: Received = {
        id,
        type: String(req.headers['ce-type'] ?? ''),
        headers: req.headers,
        body: Buffer.concat(chunks),
        attempt,
        at: performance.now(),
        partitionkey: req.headers['ce-partitionkey'] as string | undefined,
      };
      sink.received.push(received);
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      const status = await answer(received);
      if (status >= 200 && status < 300) sink.accepted.add(id);
      open--;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status >= 300 ? JSON.stringify({ error: `test sink answered ${status}` }) : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  sink.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  sink.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return sink;
}

export async function eventually(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
