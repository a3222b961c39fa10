// The pinned upstream versions (scripts/cluster/versions.json), typed.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../lib/repo.mts';

export interface Versions {
  kubernetes: string;
  etcd: string;
  kwok: string;
  knative: {
    serving: string;
    servingModule: string;
    netKourier: string;
    eventing: string;
    eventingKafkaBroker: string;
  };
  strimzi: string;
  kafka: string;
  prometheusOperatorModule: string;
  charts: Record<'kube-prometheus-stack' | 'airflow', { repo: string; version: string }>;
  images: { mlflow: string; postgres: string };
}

export const versionsFile = path.join(repoRoot, 'scripts', 'cluster', 'versions.json');

export function loadVersions(file = versionsFile): Versions {
  return JSON.parse(readFileSync(file, 'utf8')) as Versions;
}
