// A tiny HTTP endpoint that records Alertmanager webhook notifications, for tests and the drill.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Alertmanager's webhook payload (version 4), the fields we use. */
export interface WebhookNotification {
  receiver: string;
  status: 'firing' | 'resolved';
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  alerts: {
    status: 'firing' | 'resolved';
    labels: Record<string, string>;
    annotations: Record<string, string>;
    startsAt: string;
    endsAt: string;
  }[];
}

export interface ReceivedNotification {
  at: Date;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: WebhookNotification;
}

export interface WebhookReceiver {
  url: string;
  received: ReceivedNotification[];
  /** Resolves with the first notification (already received or yet to come) that matches. */
  waitFor(
    match: (n: ReceivedNotification) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<ReceivedNotification>;
  stop(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedNotification[] = [];
  const listeners = new Set<() => void>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as WebhookNotification;
        if (!Array.isArray(body.alerts)) throw new Error('no alerts array');
        received.push({ at: new Date(), path: req.url ?? '/', headers: req.headers, body });
        for (const l of listeners) l();
        res.writeHead(200).end();
      } catch (error) {
        res
          .writeHead(400, { 'content-type': 'text/plain' })
          .end(`not an Alertmanager webhook payload: ${error}`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    waitFor(match, timeoutMs, what) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = received.find(match);
          if (!hit) return false;
          cleanup();
          resolve(hit);
          return true;
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for a webhook notification: ${what}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(listener);
        };
        const listener = () => void check();
        listeners.add(listener);
        check();
      });
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
