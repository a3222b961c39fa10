// Prometheus-style durations ("1h30m", "5m", "30s") and the time compression the local drill applies.

const unitSeconds: Record<string, number> = {
  ms: 0.001,
  s: 1,
  m: 60,
  h: 3600,
  d: 86400,
  w: 604800,
  y: 31536000,
};

/** Seconds in a Prometheus duration such as "1h30m"; throws on anything else. */
export function parseDuration(text: string): number {
  const parts = [...text.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text)
    throw new Error(`not a duration: "${text}"`);
  return parts.reduce((sum, p) => sum + Number(p[1]) * unitSeconds[p[2]!]!, 0);
}

/** A duration in whole seconds ("0s" stays "0s"), or milliseconds below one second. */
export function formatDuration(seconds: number): string {
  if (seconds > 0 && seconds < 1) return `${Math.max(1, Math.round(seconds * 1000))}ms`;
  return `${Math.round(seconds)}s`;
}

/** The duration divided by `factor`, never below `minSeconds` (unless it was 0). */
export function compressDuration(text: string, factor: number, minSeconds = 1): string {
  const seconds = parseDuration(text);
  if (seconds === 0) return '0s';
  return formatDuration(Math.max(minSeconds, seconds / factor));
}

/** Compresses every range selector ([5m], [1h:1m]) and offset in a PromQL expression. */
export function compressExprDurations(expr: string, factor: number, minSeconds = 1): string {
  const d = '\\d+(?:ms|s|m|h|d|w|y)(?:\\d+(?:ms|s|m|h|d|w|y))*';
  return expr
    .replace(new RegExp(`\\[(${d})(?::(${d})?)?\\]`, 'g'), (_m, range: string, step?: string) => {
      const r = compressDuration(range, factor, minSeconds);
      if (step === undefined) return _m.includes(':') ? `[${r}:]` : `[${r}]`;
      return `[${r}:${compressDuration(step, factor, minSeconds)}]`;
    })
    .replace(
      new RegExp(`\\boffset\\s+(${d})`, 'g'),
      (_m, off: string) => `offset ${compressDuration(off, factor, minSeconds)}`,
    );
}
