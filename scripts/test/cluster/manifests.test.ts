import test from 'ava';
import fc from 'fast-check';
import { Kubectl } from '../../cluster/lib/kubectl.mts';
import { objectsOf, renderKustomization } from '../../cluster/lib/manifests.mts';

const kubectl = new Kubectl({});

test('objectsOf lists the objects of a stream and skips empty documents', (t) => {
  const yaml =
    '# comment\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: b, namespace: a}\n';
  t.deepEqual(objectsOf(yaml, 'x.yaml'), [
    { apiVersion: 'v1', kind: 'Namespace', name: 'a', namespace: undefined },
    { apiVersion: 'apps/v1', kind: 'Deployment', name: 'b', namespace: 'a' },
  ]);
});

test('objectsOf names the file and document of broken input', (t) => {
  t.throws(
    () => objectsOf('apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nkind: [', 'bad.yaml'),
    {
      message: /^bad\.yaml: YAML document 2/,
    },
  );
  t.throws(() => objectsOf('apiVersion: v1\nmetadata: {name: a}\n', 'nokind.yaml'), {
    message: /nokind\.yaml: YAML document 1 is not a Kubernetes object/,
  });
});

test('the overlays render the score Service with the image given to deploy', async (t) => {
  const digest = `registry.example.com/fraud/score@sha256:${'ab'.repeat(32)}`;
  for (const overlay of ['knative/overlays/cpu', 'knative/overlays/requests']) {
    const yaml = await renderKustomization(kubectl, overlay, {
      'registry.invalid/fraud/score': digest,
      'registry.invalid/fraud/retrain-hook': 'registry.example.com/fraud/retrain-hook:1.2.3',
      'registry.invalid/fraud/archive': 'registry.example.com/fraud/archive:1.2.3',
    });
    t.true(yaml.includes(`image: ${digest}`), overlay);
    t.true(yaml.includes('image: registry.example.com/fraud/retrain-hook:1.2.3'), overlay);
    t.true(yaml.includes('image: registry.example.com/fraud/archive:1.2.3'), overlay);
    t.false(yaml.includes('registry.invalid'), `${overlay} still has a placeholder image`);
  }
});

test('an image reference without a tag or digest is refused before anything runs', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.stringMatching(/^[a-z0-9./-]{1,40}$/).filter((s) => !s.includes(':') && !s.includes('@')),
      async (name) => {
        await t.throwsAsync(
          renderKustomization(kubectl, 'knative/overlays/cpu', { 'registry.invalid/fraud/score': name }),
          {
            message: /needs a tag or a digest/,
          },
        );
      },
    ),
    { numRuns: 50 },
  );
});

test('any well-formed tag renders as given, numeric-looking ones included', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.constantFrom('1', '1.10', '0.1', '2024', 'latest'),
        fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/),
      ),
      async (tag) => {
        const yaml = await renderKustomization(kubectl, 'knative/overlays/requests', {
          'registry.invalid/fraud/score': `registry.example.com/fraud/score:${tag}`,
        });
        t.true(yaml.includes(`image: registry.example.com/fraud/score:${tag}`), tag);
      },
    ),
    { numRuns: 15 },
  );
});
