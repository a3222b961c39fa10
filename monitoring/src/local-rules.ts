// The rules the local drill and the dashboard test load into a bare Prometheus, generated from the same
// PrometheusRule CRs so they cannot drift: the cluster-only adapter recording rules are swapped for the
// stand-ins in monitoring/local/adapters.yaml, and every range, offset and `for` is divided by timeScale
// so that what takes minutes on a cluster takes seconds locally.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { compressDuration, compressExprDurations } from './durations.ts';
import { loadPrometheusRules, monitoringDir, type PrometheusRuleCR, type RuleFileContent } from './rules.ts';

export const adaptersFile = path.join(monitoringDir, 'local', 'adapters.yaml');

export interface LocalRulesOptions {
  /** Divide every duration by this (10: a 5m window becomes 30s). */
  timeScale: number;
  /** The CPU each local scorer process is taken to request, in cores (FraudScoringHighCPU's denominator). */
  cpuRequestCores: number;
  /** Never compress below this many seconds (rate() needs a few scrapes). */
  minSeconds?: number;
}

export function loadAdapters(): Record<string, string> {
  return parse(readFileSync(adaptersFile, 'utf8')) as Record<string, string>;
}

export function localRuleFiles(
  options: LocalRulesOptions,
  crs: PrometheusRuleCR[] = loadPrometheusRules(),
): { name: string; content: RuleFileContent }[] {
  if (!(options.timeScale >= 1)) throw new Error(`timeScale must be >= 1, got ${options.timeScale}`);
  if (!(options.cpuRequestCores > 0))
    throw new Error(`cpuRequestCores must be > 0, got ${options.cpuRequestCores}`);
  const adapters = loadAdapters();
  const used = new Set<string>();
  const min = options.minSeconds ?? 2;
  const files = crs.map((cr) => ({
    name: cr.name,
    content: {
      groups: cr.spec.groups.map((group) => ({
        ...group,
        ...(group.interval ? { interval: compressDuration(group.interval, options.timeScale, min) } : {}),
        rules: group.rules.map((rule) => {
          let expr = rule.expr;
          const adapter = rule.record ? adapters[rule.record] : undefined;
          if (adapter !== undefined && rule.record) {
            used.add(rule.record);
            expr = adapter.replaceAll('CPU_REQUEST_CORES', String(options.cpuRequestCores));
          }
          return {
            ...rule,
            expr: compressExprDurations(expr, options.timeScale, min),
            ...(rule.for ? { for: compressDuration(rule.for, options.timeScale, min) } : {}),
          };
        }),
      })),
    },
  }));
  const unused = Object.keys(adapters).filter((name) => !used.has(name));
  if (unused.length > 0)
    throw new Error(`local adapters with no recording rule of that name: ${unused.join(', ')}`);
  return files;
}
