#!/usr/bin/env -S npx tsx
// Redeploys the two functions from image references (what `func build`/`pack` or CI pushed): renders
// knative/overlays/<scaling> with those images, applies it server-side and waits for the Services to be
// Ready. The same as `func deploy --build=false --image <ref>` for each function, plus the KafkaSource,
// KafkaSinks, RBAC and policies that func does not manage.
import { chalk } from 'zx';
import { parseOptions, runCli } from './lib/cli.mts';
import { deployFunctions } from './lib/components.mts';

const usage = `usage: npm run deploy -- --score-image <ref> --retrain-hook-image <ref> --archive-image <ref> [--scaling cpu|requests]
       [--kubeconfig f] [--context c] [--wait all|workloads|none] [--timeout s] [--dry-run]`;

export async function deploy(args: string[]): Promise<void> {
  const { ctx, help } = parseOptions(
    args,
    [
      'dry-run',
      'help',
      'kubeconfig',
      'context',
      'wait',
      'timeout',
      'scaling',
      'score-image',
      'retrain-hook-image',
      'archive-image',
    ],
    usage,
  );
  if (help) return console.log(usage);
  console.log(chalk.bold(`deploy: knative/overlays/${ctx.scaling}`));
  await deployFunctions(ctx);
  console.log(chalk.green.bold(ctx.dryRun ? 'dry run: nothing was changed' : 'deployed'));
}

if (import.meta.url === `file://${process.argv[1]}`) await runCli(() => deploy(process.argv.slice(2)));
