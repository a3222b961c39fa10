// kubectl and helm, pointed at one cluster (--kubeconfig/--context), with waits that say what is stuck.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Target {
  kubeconfig?: string;
  context?: string;
}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly stderr: string,
  ) {
    super(`${command}: ${stderr.trim() || 'failed'}`);
  }
}

export class Kubectl {
  constructor(readonly target: Target) {}

  private globalArgs(): string[] {
    const args: string[] = [];
    if (this.target.kubeconfig) args.push('--kubeconfig', this.target.kubeconfig);
    if (this.target.context) args.push('--context', this.target.context);
    return args;
  }

  /** Runs kubectl; rejects with its stderr. `input` goes to stdin. */
  async run(args: string[], input?: string): Promise<string> {
    return exec('kubectl', [...this.globalArgs(), ...args], input);
  }

  /** Runs helm against the same cluster. */
  async helm(args: string[]): Promise<string> {
    const global: string[] = [];
    if (this.target.kubeconfig) global.push('--kubeconfig', this.target.kubeconfig);
    if (this.target.context) global.push('--kube-context', this.target.context);
    return exec('helm', [...global, ...args]);
  }

  /** Server-side apply of a YAML stream; `dryRun` asks the apiserver to validate without persisting. */
  async apply(
    yaml: string,
    options: { dryRun?: boolean; fieldManager?: string; namespace?: string } = {},
  ): Promise<string> {
    const args = [
      'apply',
      '--server-side',
      '--force-conflicts',
      `--field-manager=${options.fieldManager ?? 'fraud-bootstrap'}`,
    ];
    if (options.dryRun) args.push('--dry-run=server');
    if (options.namespace) args.push('-n', options.namespace);
    return this.run([...args, '-f', '-'], yaml);
  }

  async exists(kind: string, name: string, namespace?: string): Promise<boolean> {
    const ns = namespace ? ['-n', namespace] : [];
    const out = await this.run(['get', kind, name, ...ns, '--ignore-not-found', '-o', 'name']);
    return out.length > 0;
  }

  /**
   * Waits for a condition on objects; on timeout the error names the objects, the condition and what the
   * cluster says about them (their conditions), so the user sees what is stuck.
   */
  async waitFor(
    what: { kind: string; names: string[]; namespace?: string },
    condition: string,
    timeoutSeconds: number,
  ) {
    if (what.names.length === 0) return;
    const ns = what.namespace ? ['-n', what.namespace] : [];
    const refs = what.names.map((n) => `${what.kind}/${n}`);
    try {
      await this.run(['wait', `--for=${condition}`, `--timeout=${timeoutSeconds}s`, ...ns, ...refs]);
    } catch (error) {
      const detail = await this.run([
        'get',
        ...ns,
        ...refs,
        '-o',
        'jsonpath={range .items[*]}{.kind}/{.metadata.name}: {.status.conditions}{"\\n"}{end}',
      ]).catch(() => '');
      const where = what.namespace ? ` in namespace ${what.namespace}` : '';
      throw new Error(
        `timed out after ${timeoutSeconds}s waiting for ${refs.join(', ')}${where} to be ${condition.replace('condition=', '')}\n` +
          `${(error as Error).message}\n${detail}`,
      );
    }
  }
}

async function exec(command: string, args: string[], input?: string): Promise<string> {
  const child = run(command, args, { maxBuffer: 256 * 1024 * 1024 });
  if (input !== undefined) child.child.stdin?.end(input);
  try {
    return (await child).stdout.trim();
  } catch (error) {
    const e = error as { stderr?: string; message: string; code?: string };
    if (e.code === 'ENOENT') throw new CommandError(command, `${command} is not on PATH: install it first`);
    throw new CommandError(
      `${command} ${args.filter((a) => !a.includes('\n')).join(' ')}`,
      e.stderr ?? e.message,
    );
  }
}
