// CLI: writes `.spec` of every PrometheusRule CR in monitoring/rules/ as a plain rule file.
//   tsx monitoring/src/extract-rules.ts --out <dir>     (npm run rules:extract --workspace monitoring -- --out <dir>)
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { loadPrometheusRules, type PrometheusRuleCR, ruleFileName } from './rules.ts';

/** Writes one `<name>.rules.yaml` per CR into outDir and returns their paths. */
export function extractRuleFiles(outDir: string, crs: PrometheusRuleCR[] = loadPrometheusRules()): string[] {
  mkdirSync(outDir, { recursive: true });
  return crs.map((cr) => {
    const file = path.join(outDir, ruleFileName(cr));
    writeFileSync(file, stringify(cr.spec, { lineWidth: 0 }));
    return file;
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const at = process.argv.indexOf('--out');
  const out = at > 0 ? process.argv[at + 1] : undefined;
  if (!out) {
    console.error('usage: extract-rules.ts --out <dir>');
    process.exit(2);
  }
  try {
    for (const file of extractRuleFiles(path.resolve(out))) console.log(file);
  } catch (error) {
    console.error(`extract-rules: ${(error as Error).message}`);
    process.exit(1);
  }
}
