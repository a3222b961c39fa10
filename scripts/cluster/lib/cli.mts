// Options shared by bootstrap, teardown and deploy, parsed strictly: an unknown flag or a bad value is a
// clear error and exit code 2, never a guess.
import { chalk, minimist } from 'zx';
import { repeatedOptions } from '../../lib/options.mts';
import type { Context, WaitMode } from './components.mts';
import { Kubectl } from './kubectl.mts';
import { parseMirror } from './upstream.mts';
import { loadVersions } from './versions.mts';

export class UsageError extends Error {}

const list = (value: unknown): string[] | undefined =>
  value === undefined
    ? undefined
    : String(value)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);

export interface ParsedOptions {
  ctx: Context;
  only?: string[];
  skip?: string[];
  help: boolean;
}

export function parseOptions(args: string[], allowed: string[], usage: string): ParsedOptions {
  const booleans = ['dry-run', 'help', 'without-admission-webhooks'];
  const parsed = minimist(args, {
    boolean: booleans,
    string: allowed.filter((a) => !booleans.includes(a)),
    unknown: (flag) => {
      if (flag.startsWith('-') && !allowed.includes(flag.replace(/^--?/, '').split('=')[0] ?? '')) {
        throw new UsageError(`unknown option ${flag}\n${usage}`);
      }
      if (!flag.startsWith('-')) throw new UsageError(`unexpected argument "${flag}"\n${usage}`);
      return true;
    },
  });
  const repeated = repeatedOptions(parsed);
  if (repeated.length)
    throw new UsageError(`given more than once: ${repeated.map((k) => `--${k}`).join(', ')}\n${usage}`);
  const wait = String(parsed.wait ?? 'all') as WaitMode;
  if (!['all', 'workloads', 'none'].includes(wait))
    throw new UsageError(`--wait must be all, workloads or none, not "${wait}"`);
  const rawTimeout = String(parsed.timeout ?? '600');
  const timeoutSeconds = Number(rawTimeout);
  if (!/^\d+$/.test(rawTimeout) || timeoutSeconds <= 0) {
    throw new UsageError(`--timeout must be a whole number of seconds, not "${rawTimeout}"`);
  }
  const scaling = String(parsed.scaling ?? 'cpu');
  if (scaling !== 'cpu' && scaling !== 'requests')
    throw new UsageError(`--scaling must be cpu or requests, not "${scaling}"`);
  const kubectl = new Kubectl({
    kubeconfig: parsed.kubeconfig ? String(parsed.kubeconfig) : undefined,
    context: parsed.context ? String(parsed.context) : undefined,
  });
  let mirror: ReturnType<typeof parseMirror>;
  try {
    mirror = parseMirror(parsed.mirror);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  return {
    help: Boolean(parsed.help),
    only: list(parsed.only),
    skip: list(parsed.skip),
    ctx: {
      kubectl,
      versions: loadVersions(),
      mirror,
      wait,
      timeoutSeconds,
      dryRun: Boolean(parsed['dry-run']),
      noAdmissionWebhooks: Boolean(parsed['without-admission-webhooks']),
      scaling,
      images: {
        score: parsed['score-image'] ? String(parsed['score-image']) : undefined,
        retrainHook: parsed['retrain-hook-image'] ? String(parsed['retrain-hook-image']) : undefined,
        archive: parsed['archive-image'] ? String(parsed['archive-image']) : undefined,
      },
      log: (line) => console.log(`  ${line}`),
      print: (text) => process.stdout.write(text),
    },
  };
}

/** Runs a CLI main, turning errors into one red message and an exit code (2 for usage, 1 otherwise). */
export async function runCli(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (error) {
    console.error(chalk.red(`error: ${(error as Error).message}`));
    process.exitCode = error instanceof UsageError ? 2 : 1;
  }
}
