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
