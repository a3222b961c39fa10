// A tiny HTTP endpoint that records what Alertmanager delivers (webhook payloads and Slack-style chat
// messages, told apart by shape), for tests and the drill.
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

/** A Slack incoming-webhook message as Alertmanager's slack_configs sends it, the fields we use. */
export interface SlackMessage {
  channel?: string;
  attachments: { title?: string; text?: string; color?: string }[];
}

export interface ReceivedNotification {
  at: Date;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
  /** Set when the body is an Alertmanager webhook payload. */
  alertmanager?: WebhookNotification;
  /** Set when the body is a Slack-style message. */
  slack?: SlackMessage;
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
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        if (typeof body !== 'object' || body === null || Array.isArray(body))
          throw new Error('not a JSON object');
        const isWebhook = Array.isArray(body.alerts);
        const isSlack = Array.isArray(body.attachments);
        if (!isWebhook && !isSlack) throw new Error('neither an alerts nor an attachments array');
        received.push({
          at: new Date(),
          path: req.url ?? '/',
          headers: req.headers,
          body,
          ...(isWebhook ? { alertmanager: body as unknown as WebhookNotification } : {}),
          ...(isSlack ? { slack: body as unknown as SlackMessage } : {}),
        });
        for (const l of listeners) l();
        res.writeHead(200).end();
      } catch (error) {
        res
          .writeHead(400, { 'content-type': 'text/plain' })
          .end(`not an Alertmanager webhook or Slack payload: ${error}`);
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
