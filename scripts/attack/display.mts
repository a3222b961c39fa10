// Live progress: one line redrawn in place on a terminal; plain lines every few seconds otherwise (CI, pipes).
import type { Sample } from './run.mts';

const fmt = (n: number | null, digits = 0) => (n === null || !Number.isFinite(n) ? '-' : n.toFixed(digits));

export function progressLine(s: Sample): string {
  const target = Number.isFinite(s.targetRate) ? fmt(s.targetRate) : 'max';
  return [
    `${fmt(s.t, 0).padStart(4)}s`,
    `rate ${fmt(s.sentRate).padStart(6)}/${target} ev/s`,
    `sent ${s.sent}`,
    `acked ${s.acked}`,
    `errors ${s.errors}`,
    `lag ${fmt(s.lag)}`,
    `decisions ${fmt(s.decisions)}`,
    `p99 ${fmt(s.p99Ms, 1)} ms`,
    s.backlog > 0 ? `backlog ${s.backlog}` : '',
  ]
    .filter(Boolean)
    .join('  ');
}

export function makeDisplay(stream: NodeJS.WriteStream, quiet: boolean) {
  const tty = Boolean(stream.isTTY);
  let lastPlain = -Infinity;
  return {
    sample(s: Sample) {
      if (quiet) return;
      if (tty) stream.write(`\r\x1b[2K${progressLine(s)}`);
      else if (s.t - lastPlain >= 5) {
        lastPlain = s.t;
        stream.write(`${progressLine(s)}\n`);
      }
    },
    end() {
      if (!quiet && tty) stream.write('\n');
    },
  };
}
