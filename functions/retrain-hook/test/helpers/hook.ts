import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { loadConfig } from '../../src/config.ts';
import { createHook } from '../../src/hook.ts';
import { AIRFLOW_SECRET, MLFLOW_SECRET } from './signed.ts';

export const packageRoot = path.join(import.meta.dirname, '..', '..');

/** A KubeConfig for a real apiserver (kubeconfig file) or, for tests that must never reach one, a closed port. */
export function kubeConfigFrom(file?: string): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else {
    kc.loadFromOptions({
      clusters: [{ name: 'nowhere', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
      users: [{ name: 'nobody', token: 'none' }],
      contexts: [{ name: 'nowhere', cluster: 'nowhere', user: 'nobody' }],
      currentContext: 'nowhere',
    });
  }
  return kc;
}

export function testHook(env: Record<string, string>, kubeconfig?: string) {
  const config = loadConfig({
    AIRFLOW_HMAC_SECRET: AIRFLOW_SECRET,
    MLFLOW_WEBHOOK_SECRET: MLFLOW_SECRET,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    SCORE_NAMESPACE: 'fraud',
    REQUEST_RETRY_ATTEMPTS: '2',
    RETRY_BASE_MS: '20',
    RETRY_MAX_MS: '500',
    STATUS_POLL_MS: '100',
    ...env,
  });
  return createHook(config, kubeConfigFrom(kubeconfig));
}

/**
 * Applies the hook's real RBAC (knative/base/retrain-hook-rbac.yaml: get/patch on Service "score" only)
 * and returns a kubeconfig file holding a token of its ServiceAccount, so the hook runs with least privilege.
 */
export async function hookServiceAccountKubeconfig(cp: {
  kubectl(args: string[], input?: string): Promise<string>;
  server: string;
  caCert: string;
  dataDir: string;
}): Promise<string> {
  const rbac = path.join(packageRoot, '..', '..', 'knative', 'base', 'retrain-hook-rbac.yaml');
  await cp.kubectl(['apply', '-f', rbac]);
  const token = (
    await cp.kubectl(['create', 'token', 'retrain-hook', '-n', 'fraud', '--duration', '6h'])
  ).trim();
  const file = path.join(cp.dataDir, 'retrain-hook.kubeconfig');
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'test',
        cluster: {
          server: cp.server,
          'certificate-authority-data': Buffer.from(cp.caCert).toString('base64'),
        },
      },
    ],
    users: [{ name: 'retrain-hook', user: { token } }],
    contexts: [
      { name: 'retrain-hook', context: { cluster: 'test', user: 'retrain-hook', namespace: 'fraud' } },
    ],
    'current-context': 'retrain-hook',
  };
  writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
  return file;
}
