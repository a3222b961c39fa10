#!/usr/bin/env -S npx tsx
// Undoes the bootstrap, in reverse order. Deletes are requested without waiting for finalizers, and a
// component that is already gone is not an error. Persistent volumes follow their reclaim policy.
import { chalk } from 'zx';
import { parseOptions, runCli } from './lib/cli.mts';
import { components, selectComponents } from './lib/components.mts';

const usage = `usage: npm run teardown -- [--dry-run] [--only a,b] [--skip a,b] [--kubeconfig f] [--context c] [--mirror dir|url] [--scaling cpu|requests]
  components (removed in reverse order): ${components.map((c) => c.name).join(', ')}`;

export async function teardown(args: string[]): Promise<void> {
  const { ctx, only, skip, help } = parseOptions(
    args,
    ['dry-run', 'help', 'only', 'skip', 'kubeconfig', 'context', 'mirror', 'scaling'],
    usage,
  );
  if (help) return console.log(usage);
  const selected = selectComponents(only, skip).reverse();
  console.log(chalk.bold(`${ctx.dryRun ? 'plan' : 'teardown'}: ${selected.map((c) => c.name).join(' → ')}`));
  for (const component of selected) {
    console.log(chalk.bold(`- ${component.name}`));
    try {
      await component.uninstall(ctx);
    } catch (error) {
      throw new Error(`${component.name}: ${(error as Error).message}`);
    }
  }
  console.log(chalk.green.bold(ctx.dryRun ? 'dry run: nothing was changed' : 'teardown complete'));
}

if (import.meta.url === `file://${process.argv[1]}`) await runCli(() => teardown(process.argv.slice(2)));
