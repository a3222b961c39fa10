// Load shapes: the target rate (events/s) as a function of seconds since the start.
//   steady           rate all along
//   ramp             0 -> rate linearly over the run (or over --ramp-seconds, then steady)
//   spike            base rate (rate/5) with spikes to rate for spikeSeconds every spikeEvery seconds
//   profile:<file>   a JSON or YAML list of steps [{ "seconds": 10, "rate": 500 } | { "seconds": 20, "from": 100, "to": 2000 }]
import { readFileSync } from 'node:fs';
import YAML from 'yaml';

export type RateFn = (seconds: number) => number;

export interface ProfileStep {
  seconds: number;
  rate?: number;
  from?: number;
  to?: number;
}

export interface Shape {
  name: string;
  rate: RateFn;
  /** The profile's own length in seconds (profiles only): the run's default duration. */
  lengthSeconds?: number;
}

export class ShapeError extends Error {}

export function steady(rate: number): RateFn {
  return () => rate;
}

export function ramp(rate: number, rampSeconds: number): RateFn {
  return (s) => (s >= rampSeconds ? rate : (rate * s) / rampSeconds);
}

export function spike(
  rate: number,
  options: { base?: number; every?: number; length?: number } = {},
): RateFn {
  const base = options.base ?? rate / 5;
  const every = options.every ?? 20;
  const length = options.length ?? 5;
  // Spikes start at every/2 so a short run still sees one.
  return (s) => ((s + every / 2) % every < length ? rate : base);
}

export function parseProfile(text: string, where: string): ProfileStep[] {
  let parsed: unknown;
  try {
    parsed = YAML.parse(text);
  } catch (err) {
    throw new ShapeError(`${where}: not JSON or YAML: ${(err as Error).message}`);
  }
  const steps = Array.isArray(parsed) ? parsed : (parsed as { steps?: unknown } | null)?.steps;
  if (!Array.isArray(steps) || steps.length === 0) {
    throw new ShapeError(`${where}: expected a non-empty list of steps (or { steps: [...] })`);
  }
  return steps.map((step, i) => {
    const s = step as Record<string, unknown>;
    const at = `${where}: step ${i + 1}`;
    const num = (name: string, required: boolean) => {
      const v = s?.[name];
      if (v === undefined && !required) return undefined;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
        throw new ShapeError(`${at}: ${name} must be a number >= 0, got ${JSON.stringify(v ?? null)}`);
      }
      return v;
    };
    const seconds = num('seconds', true) as number;
    if (seconds <= 0) throw new ShapeError(`${at}: seconds must be > 0`);
    const rate = num('rate', false);
    const from = num('from', false);
    const to = num('to', false);
    if (rate === undefined && (from === undefined || to === undefined)) {
      throw new ShapeError(`${at}: needs either rate, or from and to`);
    }
    return { seconds, rate, from, to };
  });
}

export function profile(steps: ProfileStep[]): RateFn {
  return (s) => {
    let start = 0;
    for (const step of steps) {
      if (s < start + step.seconds) {
        if (step.rate !== undefined) return step.rate;
        const f = (s - start) / step.seconds;
        return (step.from as number) + ((step.to as number) - (step.from as number)) * f;
      }
      start += step.seconds;
    }
    return 0; // past the end of the profile
  };
}

export function makeShape(spec: string, rate: number, durationSeconds: number | undefined): Shape {
  if (spec === 'steady') return { name: spec, rate: steady(rate) };
  if (spec === 'ramp') return { name: spec, rate: ramp(rate, durationSeconds ?? 60) };
  if (spec === 'spike') return { name: spec, rate: spike(rate) };
  if (spec.startsWith('profile:')) {
    const file = spec.slice('profile:'.length);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ShapeError(`cannot read profile file ${file}: ${(err as Error).message}`);
    }
    const steps = parseProfile(text, file);
    return { name: spec, rate: profile(steps), lengthSeconds: steps.reduce((sum, s) => sum + s.seconds, 0) };
  }
  throw new ShapeError(`unknown shape ${JSON.stringify(spec)}: use steady, ramp, spike or profile:<file>`);
}

/** Events a shape asks for between 0 and `seconds` (numerical integral, 1 ms steps), for tests and reports. */
export function expectedCount(rate: RateFn, seconds: number): number {
  let total = 0;
  const dt = 0.001;
  for (let t = 0; t < seconds; t += dt) total += rate(t + dt / 2) * Math.min(dt, seconds - t);
  return total;
}
