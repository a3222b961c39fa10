// Knative Serving 1.15 for real on the live node: the module's CRDs and core/HPA YAML with the local images,
// its controller, webhook, KPA autoscaler and HPA-class autoscaler running, and the webhook admitting (with
// defaults) a valid Service and rejecting an invalid one with Knative's own message.
import {
  ensureImages,
  importImages,
  knativeConfigDeployment,
  knativeImageRefs,
  knativeImages,
} from '@fraud/testkit/install/images';
import { startCluster } from '@fraud/testkit/node/cluster';
import test from 'ava';
import { installKnativeServing } from '../../cluster/lib/live-knative.mts';

const service = (
  name: string,
  minScale: string,
  maxScale: string,
  image: string,
) => `apiVersion: serving.knative.dev/v1
kind: Service
metadata: { name: ${name}, namespace: default }
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/min-scale: "${minScale}"
        autoscaling.knative.dev/max-scale: "${maxScale}"
    spec:
      containers:
        - image: ${image}
`;

test('Knative Serving runs on the node and its webhook admits and rejects Services', async (t) => {
  t.timeout(25 * 60_000);
  const images = await ensureImages({
    only: [...knativeImages, 'score'],
  });
  const cluster = await startCluster();
  try {
    await importImages({
      ctr: cluster.binaries.ctr,
      address: cluster.containerdAddress,
      images: Object.values(images),
    });
    // The activator reaches the autoscaler by its Service name; without cluster DNS it does not turn Ready,
    // so this test waits for the four that need only the apiserver.
    await installKnativeServing(cluster.kubectl, {
      koRefs: knativeImageRefs(images),
      configDeployment: knativeConfigDeployment(images['knative-queue']),
      waitFor: ['controller', 'webhook', 'autoscaler', 'autoscaler-hpa'],
    });
    const running = await cluster.kubectl([
      'get',
      'pods',
      '-n',
      'knative-serving',
      '-o',
      'jsonpath={range .items[*]}{.spec.containers[0].image}{"\\n"}{end}',
    ]);
    for (const image of running.split('\n')) t.regex(image, /^local\.fraud\/knative\/serving\//);

    // Rejected by the webhook (Knative's validation), not by the CRD schema.
    const bad = await cluster.kubectl(['apply', '-f', '-'], service('bad', '6', '4', images.score.ref)).then(
      () => 'admitted',
      (e: Error) => e.message,
    );
    t.regex(bad, /admission webhook "validation\.webhook\.serving\.knative\.dev" denied the request/);
    t.regex(bad, /max-scale/);

    // Admitted and defaulted by the webhook: the creator annotation and the default timeout are its work.
    let admitted = '';
    for (let i = 0; i < 30 && !admitted; i++) {
      admitted = await cluster
        .kubectl(['apply', '-f', '-'], service('good', '1', '2', images.score.ref))
        .then(
          (out) => out,
          async () => {
            await new Promise((r) => setTimeout(r, 2000));
            return '';
          },
        );
    }
    t.regex(admitted, /service.serving.knative.dev\/good (created|configured)/);
    const svc = JSON.parse(await cluster.kubectl(['get', 'ksvc', 'good', '-o', 'json'])) as {
      metadata: { annotations: Record<string, string> };
      spec: { template: { spec: { timeoutSeconds?: number } } };
    };
    t.is(svc.metadata.annotations['serving.knative.dev/creator'], 'fraud-node-admin');
    t.is(svc.spec.template.spec.timeoutSeconds, 300);
    // The controller reconciles it: a Revision and its Deployment exist.
    let deployment = '';
    for (let i = 0; i < 60 && !deployment; i++) {
      deployment = await cluster
        .kubectl(['get', 'deployment', '-l', 'serving.knative.dev/service=good', '-o', 'name'])
        .catch(() => '');
      if (!deployment) await new Promise((r) => setTimeout(r, 2000));
    }
    t.regex(deployment, /deployment.apps\/good-00001-deployment/);
  } finally {
    await cluster.stop();
  }
});
