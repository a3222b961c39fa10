// What the attack observes besides its own sends: the dispatcher group's consumer lag, decisions that
// reached the decisions topic (growth of its end offsets since the start), and Alertmanager alerts.
import { type Admin, Kafka, logLevel } from 'kafkajs';

export class KafkaMonitor {
  private readonly admin: Admin;
  private decisionsAtStart: number | undefined;

  constructor(
    private readonly options: { bootstrap: string; topic: string; decisionsTopic: string; group: string },
  ) {
    const kafka = new Kafka({
      clientId: 'attack-monitor',
      brokers: [options.bootstrap],
      logLevel: logLevel.NOTHING,
    });
    this.admin = kafka.admin();
  }

  async connect(): Promise<void> {
    await this.admin.connect();
    this.decisionsAtStart = await this.endOffsets(this.options.decisionsTopic);
  }

  private async endOffsets(topic: string): Promise<number | undefined> {
    try {
      const offsets = await this.admin.fetchTopicOffsets(topic);
      return offsets.reduce((sum, p) => sum + Number(p.high), 0);
    } catch {
      return undefined; // topic missing
    }
  }

  /** Records on the transactions topic not yet committed by the dispatcher's group. */
  async lag(): Promise<number | undefined> {
    try {
      const [ends, committed] = await Promise.all([
        this.admin.fetchTopicOffsets(this.options.topic),
        this.admin.fetchOffsets({ groupId: this.options.group, topics: [this.options.topic] }),
      ]);
      const done = new Map(committed[0]?.partitions.map((p) => [p.partition, Number(p.offset)]) ?? []);
      return ends.reduce((sum, p) => {
        const c = done.get(p.partition) ?? -1;
        return sum + Number(p.high) - (c >= 0 ? c : Number(p.low));
      }, 0);
    } catch {
      return undefined;
    }
  }

  async decisionsSeen(): Promise<number | undefined> {
    const now = await this.endOffsets(this.options.decisionsTopic);
    if (now === undefined || this.decisionsAtStart === undefined) return undefined;
    return now - this.decisionsAtStart;
  }

  async close(): Promise<void> {
    await this.admin.disconnect();
  }
}

interface AmAlert {
  labels?: Record<string, string>;
  status?: { state?: string };
}

/** True when Alertmanager lists an active (firing, not silenced) alert with this name. */
export async function alertFiring(alertmanagerUrl: string, name: string): Promise<boolean> {
  const url = new URL('/api/v2/alerts', alertmanagerUrl);
  url.searchParams.set('active', 'true');
  url.searchParams.set('silenced', 'false');
  url.searchParams.set('inhibited', 'false');
  url.searchParams.append('filter', `alertname="${name}"`);
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`Alertmanager ${url.origin} answered HTTP ${res.status}`);
  const alerts = (await res.json()) as AmAlert[];
  return alerts.some((a) => a.labels?.alertname === name && (a.status?.state ?? 'active') === 'active');
}
