import { UnavailableError } from './retry.ts';

/** Instant queries against the Prometheus HTTP API. */
export class PrometheusClient {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 5000,
  ) {}

  /** The first sample's value, or undefined when the query has no result (no traffic, NaN from 0/0). */
  async scalar(query: string): Promise<number | undefined> {
    const url = `${this.baseUrl.replace(/\/+$/, '')}/api/v1/query?${new URLSearchParams({ query })}`;
    let response: Response;
    try {
      response = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (error) {
      throw new UnavailableError('prometheus', `Prometheus unreachable: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const body = (await response.json().catch(() => ({}))) as {
      status?: string;
      error?: string;
      data?: { resultType: string; result: { value: [number, string] }[] | [number, string] };
    };
    if (response.status >= 500)
      throw new UnavailableError('prometheus', `Prometheus answered ${response.status}`);
    if (body.status !== 'success' || !body.data) {
      throw new Error(`Prometheus rejected the query ${query}: ${body.error ?? response.status}`);
    }
    const raw =
      body.data.resultType === 'scalar'
        ? (body.data.result as [number, string])[1]
        : (body.data.result as { value: [number, string] }[])[0]?.value[1];
    if (raw === undefined) return undefined;
    const value = Number(raw);
    return Number.isFinite(value) ? value : undefined;
  }
}

/** Fills {{revision}}, {{namespace}} and {{service}} into a configured query. */
export const renderQuery = (template: string, vars: Record<string, string>) =>
  template.replace(/\{\{(\w+)\}\}/g, (whole, key: string) => vars[key] ?? whole);
