import test from 'ava';
import fc from 'fast-check';
import { parseOptions, UsageError } from '../../cluster/lib/cli.mts';
import { components, selectComponents } from '../../cluster/lib/components.mts';

const allowed = [
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
];

test('defaults: wait for everything, 600 s per wait, cpu scaling, no mirror', (t) => {
  const { ctx, only, skip } = parseOptions([], allowed, 'usage');
  t.is(ctx.wait, 'all');
  t.is(ctx.timeoutSeconds, 600);
  t.is(ctx.scaling, 'cpu');
  t.is(ctx.mirror, undefined);
  t.false(ctx.dryRun);
  t.is(only, undefined);
  t.is(skip, undefined);
});

test('lists, kubeconfig and context are passed through', (t) => {
  const { ctx, only } = parseOptions(
    [
      '--only',
      'kafka, mlflow',
      '--kubeconfig',
      '/k',
      '--context',
      'prod',
      '--wait',
      'workloads',
      '--timeout',
      '30',
    ],
    allowed,
    'usage',
  );
  t.deepEqual(only, ['kafka', 'mlflow']);
  t.deepEqual(ctx.kubectl.target, { kubeconfig: '/k', context: 'prod' });
  t.is(ctx.wait, 'workloads');
  t.is(ctx.timeoutSeconds, 30);
});

test('an unknown option, a stray argument or a bad value is a UsageError naming it', (t) => {
  const cases: [string[], RegExp][] = [
    [['--kubeconfg', 'x'], /unknown option --kubeconfg/],
    [['install'], /unexpected argument "install"/],
    [['--wait', 'forever'], /--wait must be all, workloads or none, not "forever"/],
    [['--timeout', '-5'], /unknown option -5/],
    [['--timeout', '1e3'], /--timeout must be a whole number of seconds, not "1e3"/],
    [['--timeout', '1.5'], /--timeout must be a whole number of seconds/],
    [['--scaling', 'memory'], /--scaling must be cpu or requests/],
    [['--kubeconfig', 'a', '--kubeconfig', 'b'], /given more than once: --kubeconfig/],
    [['--mirror', '/no/such/mirror/dir'], /--mirror \/no\/such\/mirror\/dir: no such directory/],
  ];
  for (const [args, message] of cases) {
    const error = t.throws(() => parseOptions(args, allowed, 'usage'), { instanceOf: UsageError });
    t.regex(error?.message ?? '', message, args.join(' '));
  }
});

test('any --timeout that is not a positive whole number is refused', (t) => {
  fc.assert(
    fc.property(
      fc
        .oneof(fc.string(), fc.double().map(String), fc.integer({ max: 0 }).map(String))
        .filter((s) => !/^\d+$/.test(s) || Number(s) <= 0),
      (value) => {
        t.throws(() => parseOptions(['--timeout', value], allowed, 'usage'), { instanceOf: UsageError });
      },
    ),
    { numRuns: 200 },
  );
});

test('components keep install order whatever the order of --only; unknown names are refused', (t) => {
  const picked = selectComponents(['functions', 'knative-serving', 'kafka']).map((c) => c.name);
  t.deepEqual(picked, ['knative-serving', 'kafka', 'functions']);
  t.deepEqual(
    selectComponents(undefined, ['airflow']).map((c) => c.name),
    components.map((c) => c.name).filter((n) => n !== 'airflow'),
  );
  t.throws(() => selectComponents(['knative']), {
    instanceOf: UsageError,
    message: /unknown component "knative"/,
  });
});
