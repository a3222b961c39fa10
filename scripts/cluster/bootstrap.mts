#!/usr/bin/env -S npx tsx
// Installs the fraud platform on a Kubernetes cluster, in order and idempotently (server-side apply; Helm
// upgrade --install; Secrets only created when missing), waiting on real conditions at every step.
import { chalk } from 'zx';
import { parseOptions, runCli } from './lib/cli.mts';
import { components, selectComponents } from './lib/components.mts';

export const usage = `usage: npm run bootstrap -- [options]
  --dry-run                     print the plan and the rendered manifests; change nothing
  --only a,b / --skip a,b       components (in this order): ${components.map((c) => c.name).join(', ')}
  --kubeconfig <file>           cluster to install on (default: kubectl's)
  --context <name>              kubeconfig context
  --mirror <dir|url>            take every upstream manifest and chart from a mirror (scripts/cluster/mirror.mts)
  --wait all|workloads|none     all (default): also Kafka and Knative Services Ready; workloads: CRDs and Deployments
  --timeout <seconds>           per wait (default 600)
  --scaling cpu|requests        score autoscaling overlay (default cpu: HPA on CPU 70%)
  --score-image <ref>           image of functions/score (registry/name:tag or @sha256:...)
  --retrain-hook-image <ref>    image of functions/retrain-hook
  --archive-image <ref>         image of functions/archive
  --without-admission-webhooks  leave out upstream webhook configurations (test control planes without pods)`;

const options = [
  'dry-run',
  'help',
  'only',
  'skip',
  'kubeconfig',
  'context',
  'mirror',
  'wait',
  'timeout',
  'scaling',
  'score-image',
  'retrain-hook-image',
  'archive-image',
  'without-admission-webhooks',
];

export async function bootstrap(args: string[]): Promise<void> {
  const { ctx, only, skip, help } = parseOptions(args, options, usage);
  if (help) return console.log(usage);
  const selected = selectComponents(only, skip);
  console.log(chalk.bold(`${ctx.dryRun ? 'plan' : 'bootstrap'}: ${selected.map((c) => c.name).join(' → ')}`));
  for (const [index, component] of selected.entries()) {
    const started = Date.now();
    console.log(chalk.bold(`[${index + 1}/${selected.length}] ${component.name}: ${component.what}`));
    try {
      await component.install(ctx);
    } catch (error) {
      throw new Error(`${component.name}: ${(error as Error).message}`);
    }
    console.log(chalk.green(`  ✓ ${component.name} (${((Date.now() - started) / 1000).toFixed(1)} s)`));
  }
  console.log(chalk.green.bold(ctx.dryRun ? 'dry run: nothing was changed' : 'bootstrap complete'));
}

if (import.meta.url === `file://${process.argv[1]}`) await runCli(() => bootstrap(process.argv.slice(2)));
