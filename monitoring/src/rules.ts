// Reads the PrometheusRule CRs in monitoring/rules/ and turns them into the plain `groups:` files that
// promtool and a bare Prometheus read (they do not understand the CR wrapper).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';

export const monitoringDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const rulesDir = path.join(monitoringDir, 'rules');

export interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface RuleGroup {
  name: string;
  interval?: string;
  rules: Rule[];
}

export interface RuleFileContent {
  groups: RuleGroup[];
}

export interface PrometheusRuleCR {
  file: string;
  name: string;
  labels: Record<string, string>;
  spec: RuleFileContent;
}

/** Parses one PrometheusRule manifest; throws naming the file and what is wrong with it. */
export function parsePrometheusRule(text: string, file: string): PrometheusRuleCR {
  type Doc = {
    apiVersion?: string;
    kind?: string;
    metadata?: { name?: string; labels?: Record<string, string> };
    spec?: { groups?: unknown };
  };
  let doc: Doc | null;
  try {
    // Warnings (an unknown !tag, say) count as errors: a rule file should be plain YAML.
    const parsed = parseDocument(text, { logLevel: 'silent' });
    const problem = parsed.errors[0] ?? parsed.warnings[0];
    if (problem) throw problem;
    doc = parsed.toJS() as Doc | null;
  } catch (error) {
    throw new Error(`${file}: not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (doc?.apiVersion !== 'monitoring.coreos.com/v1' || doc.kind !== 'PrometheusRule') {
    throw new Error(`${file}: not a monitoring.coreos.com/v1 PrometheusRule (apiVersion/kind)`);
  }
  if (!doc.metadata?.name) throw new Error(`${file}: metadata.name is missing`);
  if (!Array.isArray(doc.spec?.groups) || doc.spec.groups.length === 0) {
    throw new Error(`${file}: spec.groups must be a non-empty list`);
  }
  doc.spec.groups.forEach((group: unknown, g: number) => {
    const gr = group as { name?: unknown; rules?: unknown } | null;
    if (typeof gr?.name !== 'string' || !Array.isArray(gr.rules)) {
      throw new Error(`${file}: spec.groups[${g}] needs a name and a rules list`);
    }
    gr.rules.forEach((rule: unknown, r: number) => {
      const ru = rule as Partial<Rule> | null;
      if (
        typeof ru?.expr !== 'string' ||
        (typeof ru.alert !== 'string') === (typeof ru.record !== 'string')
      ) {
        throw new Error(
          `${file}: spec.groups[${g}].rules[${r}] needs an expr and exactly one of alert or record`,
        );
      }
    });
  });
  return {
    file,
    name: doc.metadata.name,
    labels: doc.metadata.labels ?? {},
    spec: { groups: doc.spec.groups as RuleGroup[] },
  };
}

/** Every PrometheusRule CR under monitoring/rules/, sorted by file name. */
export function loadPrometheusRules(dir = rulesDir): PrometheusRuleCR[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => parsePrometheusRule(readFileSync(path.join(dir, f), 'utf8'), path.join(dir, f)));
}

/** All rules of all CRs, flattened. */
export function allRules(crs = loadPrometheusRules()): Rule[] {
  return crs.flatMap((cr) => cr.spec.groups.flatMap((g) => g.rules));
}

/** The file name promtool test files refer to for a CR: `<metadata.name>.rules.yaml`. */
export const ruleFileName = (cr: PrometheusRuleCR) => `${cr.name}.rules.yaml`;
