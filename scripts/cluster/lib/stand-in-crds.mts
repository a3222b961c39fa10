// Stand-in CRDs for the kinds whose upstream CRDs no reachable registry carries (eventing-kafka-broker's
// KafkaSource/KafkaSink, Strimzi's Kafka/KafkaNodePool/KafkaTopic). They are schemaless on purpose: the
// apiserver then checks only what it checks for every object (apiVersion, kind, names, namespaces, RBAC,
// server-side apply), and claims nothing about the spec. The test says so for every object they admit.
// Never used outside the cluster test: a real cluster gets the upstream CRDs from a mirror or the release.

export interface StandIn {
  group: string;
  version: string;
  kind: string;
  plural: string;
  upstream: string;
}

export const standIns: StandIn[] = [
  {
    group: 'sources.knative.dev',
    version: 'v1beta1',
    kind: 'KafkaSource',
    plural: 'kafkasources',
    upstream: 'eventing-kafka-broker',
  },
  {
    group: 'eventing.knative.dev',
    version: 'v1alpha1',
    kind: 'KafkaSink',
    plural: 'kafkasinks',
    upstream: 'eventing-kafka-broker',
  },
  { group: 'kafka.strimzi.io', version: 'v1', kind: 'Kafka', plural: 'kafkas', upstream: 'strimzi' },
  {
    group: 'kafka.strimzi.io',
    version: 'v1',
    kind: 'KafkaNodePool',
    plural: 'kafkanodepools',
    upstream: 'strimzi',
  },
  {
    group: 'kafka.strimzi.io',
    version: 'v1',
    kind: 'KafkaTopic',
    plural: 'kafkatopics',
    upstream: 'strimzi',
  },
];

export function standInCrdYaml(s: StandIn): string {
  return JSON.stringify({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${s.plural}.${s.group}`,
      labels: { 'fraud-platform/stand-in': 'true' },
      annotations: { 'fraud-platform/stand-in-for': `${s.upstream} (upstream CRD not obtainable here)` },
    },
    spec: {
      group: s.group,
      scope: 'Namespaced',
      names: { kind: s.kind, plural: s.plural, singular: s.kind.toLowerCase(), listKind: `${s.kind}List` },
      versions: [
        {
          name: s.version,
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
                status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
              },
            },
          },
        },
      ],
    },
  });
}
