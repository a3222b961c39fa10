import test from 'ava';
import { bootstrap } from '../../cluster/bootstrap.mts';
import { standInCrdYaml, standIns } from '../../cluster/lib/stand-in-crds.mts';

async function captured(fn: () => Promise<void>): Promise<string> {
  const lines: string[] = [];
  const log = console.log;
  const write = process.stdout.write.bind(process.stdout);
  console.log = (...args: unknown[]) => lines.push(args.join(' '));
  process.stdout.write = ((chunk: string) => lines.push(String(chunk)) > 0) as typeof process.stdout.write;
  try {
    await fn();
  } finally {
    console.log = log;
    process.stdout.write = write;
  }
  return lines.join('\n');
}

test.serial(
  '--dry-run prints the plan, the generated secrets (never their values) and the rendered manifests',
  async (t) => {
    // No cluster is needed: a dry run only renders. An unreachable kubeconfig proves nothing is contacted.
    const out = await captured(() =>
      bootstrap(['--dry-run', '--only', 'mlflow,functions', '--kubeconfig', '/nonexistent/kubeconfig']),
    );
    t.regex(out, /plan: mlflow → functions/);
    t.regex(out, /secret mlflow\/mlflow-postgres \(password\): random value/);
    t.regex(out, /secret fraud\/retrain-hook \(airflow-hmac-secret, mlflow-webhook-secret\)/);
    t.regex(out, /# ---- knative\/overlays\/cpu \(rendered\)/);
    t.regex(out, /autoscaling.knative.dev\/class: hpa.autoscaling.knative.dev/);
    t.regex(out, /dry run: nothing was changed/);
  },
);

test.serial('--scaling requests renders the KPA overlay', async (t) => {
  const out = await captured(() => bootstrap(['--dry-run', '--only', 'functions', '--scaling', 'requests']));
  t.regex(out, /autoscaling.knative.dev\/class: kpa.autoscaling.knative.dev/);
  t.regex(out, /autoscaling.knative.dev\/metric: concurrency/);
});

test('stand-in CRDs are marked as such and name the upstream they replace', (t) => {
  for (const s of standIns) {
    const crd = JSON.parse(standInCrdYaml(s));
    t.is(crd.metadata.name, `${s.plural}.${s.group}`);
    t.is(crd.metadata.labels['fraud-platform/stand-in'], 'true');
    t.regex(crd.metadata.annotations['fraud-platform/stand-in-for'], new RegExp(s.upstream));
  }
});
