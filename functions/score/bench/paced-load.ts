// Open-loop load at a fixed rate, for "p99 at half of the peak rate".
//
// autocannon's rate option is a per-connection quota that resets every second: each second opens with a
// closed-loop burst at full speed, then the connections idle. Its p99 at "half the peak rate" is therefore the
// p99 of bursts at the peak. Here requests are spaced evenly (wrk2-style), and each latency is counted from
// the moment the request was due, not from when it left: a stalled client or server cannot hide its own delay
// (coordinated omission).
import * as hdr from 'hdr-histogram-js';
import { Pool } from 'undici';

export interface PacedResult {
  /** Requests completed per second over the run. */
  rps: number;
  p50: number;
  p99: number;
  max: number;
  non2xx: number;
  errors: number;
  /** Requests still owed when the run ended (the client or server fell behind the schedule). */
  behind: number;
  /** Longest gap between two of the client's own ticks, in ms: a stall of the load generator, not the server. */
  clientStallMs: number;
}

export async function pacedLoad(options: {
  url: string;
  path: string;
  body: string;
  rate: number;
  seconds: number;
  connections: number;
}): Promise<PacedResult> {
  const origin = new URL(options.url).origin;
  const pool = new Pool(origin, { connections: options.connections, pipelining: 1 });
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const total = Math.round(options.rate * options.seconds);
  let issued = 0;
  let done = 0;
  let non2xx = 0;
  let errors = 0;
  const inFlight = new Set<Promise<void>>();
  const start = performance.now();
  const deadline = start + options.seconds * 1000 + 5000;

  const send = (dueAt: number) => {
    const request = pool
      .request({
        method: 'POST',
        path: options.path,
        headers: { 'content-type': 'application/json' },
        body: options.body,
      })
      .then(async (response) => {
        await response.body.dump();
        if (response.statusCode >= 300) non2xx++;
      })
      .catch(() => {
        errors++;
      })
      .finally(() => {
        histogram.recordValue(Math.max(1, Math.round((performance.now() - dueAt) * 1000)));
        done++;
        inFlight.delete(request);
      });
    inFlight.add(request);
  };

  let lastTick = start;
  let clientStallMs = 0;
  while (issued < total && performance.now() < deadline) {
    const now = performance.now();
    clientStallMs = Math.max(clientStallMs, now - lastTick);
    lastTick = now;
    const elapsed = now - start;
    const due = Math.min(total, Math.floor((elapsed / 1000) * options.rate));
    for (; issued < due; issued++) send(start + (issued / options.rate) * 1000);
    // 1 ms ticks: spinning on setImmediate would take a whole core from the server on a small machine. A request
    // may leave up to a tick after it was due; that wait counts in its latency, so the figure errs high.
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(inFlight);
  const seconds = (performance.now() - start) / 1000;
  await pool.close();
  return {
    rps: done / seconds,
    p50: histogram.getValueAtPercentile(50) / 1000,
    p99: histogram.getValueAtPercentile(99) / 1000,
    max: histogram.maxValue / 1000,
    non2xx,
    errors,
    behind: total - issued,
    clientStallMs,
  };
}
