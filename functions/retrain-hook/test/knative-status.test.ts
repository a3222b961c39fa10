// revisionFailure(): the hook reads Knative's verdict on a canary revision from the Service status it may
// get (its RBAC has no access to Revisions). Cases as Knative 1.15's Service reconciler writes them.
import test from 'ava';
import { type KnativeService, revisionFailure } from '../src/knative.ts';

const service = (status: KnativeService['status']): KnativeService => ({
  metadata: { name: 'score' },
  spec: { template: { spec: { containers: [{}] } } },
  status,
});

const failed = {
  type: 'ConfigurationsReady',
  status: 'False',
  reason: 'RevisionFailed',
  message: 'Revision "score-model-v7" failed with message: Initial scale was never achieved.',
};

test('a failed latest created revision is reported with Knative reason and message', (t) => {
  const s = service({ latestCreatedRevisionName: 'score-model-v7', conditions: [failed] });
  t.is(
    revisionFailure(s, 'score-model-v7'),
    'RevisionFailed: Revision "score-model-v7" failed with message: Initial scale was never achieved.',
  );
});

test('no verdict while the revision is still being created or is not the latest', (t) => {
  const deploying = { ...failed, status: 'Unknown', reason: 'Deploying', message: '' };
  t.is(
    revisionFailure(
      service({ latestCreatedRevisionName: 'score-model-v7', conditions: [deploying] }),
      'score-model-v7',
    ),
    undefined,
  );
  // The previous template's failure (status not yet caught up with the new generation) is not ours.
  t.is(
    revisionFailure(
      service({ latestCreatedRevisionName: 'score-model-v6', conditions: [failed] }),
      'score-model-v7',
    ),
    undefined,
  );
  t.is(revisionFailure(service(undefined), 'score-model-v7'), undefined);
});

test('a Route that is not Ready (no ingress here) is not a revision failure', (t) => {
  const s = service({
    latestCreatedRevisionName: 'score-model-v7',
    latestReadyRevisionName: 'score-model-v7',
    conditions: [
      { type: 'ConfigurationsReady', status: 'True' },
      { type: 'RoutesReady', status: 'Unknown', reason: 'IngressNotConfigured' },
      { type: 'Ready', status: 'Unknown', reason: 'IngressNotConfigured' },
    ],
  });
  t.is(revisionFailure(s, 'score-model-v7'), undefined);
});
