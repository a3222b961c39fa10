// The Alertmanager configuration in monitoring/alertmanager/, and the local variant the tests and the
// drill run: same routes, receivers, templates and inhibitions, with the cluster's file paths and relay
// URL pointed at a temp dir and a local receiver, and the grouping timers compressed.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { compressDuration } from './durations.ts';
import { monitoringDir } from './rules.ts';

export const alertmanagerDir = path.join(monitoringDir, 'alertmanager');
export const alertmanagerConfigFile = path.join(alertmanagerDir, 'alertmanager.yaml');
export const chatTemplateFile = path.join(alertmanagerDir, 'fraud.tmpl');

/** Where the operator mounts the receivers' Secret (alertmanagerSpec.secrets: [fraud-alert-receivers]). */
export const secretsMount = '/etc/alertmanager/secrets/fraud-alert-receivers/';
export const configMount = '/etc/alertmanager/config/';

export interface LocalAlertmanagerOptions {
  /** Base URL of a local webhook receiver: the pager gets `<url>/pager`, chat `<url>/chat`. */
  receiverUrl: string;
  /** Divide group_wait, group_interval, repeat_interval and resolve_timeout by this. */
  timeScale?: number;
  /** The token the pager webhook sends as Bearer (stands in for the Secret's pager-token). */
  pagerToken?: string;
  /** Where the retrain receiver posts (a local retrain-hook's /alertmanager/webhook); default `<receiverUrl>/retrain`. */
  retrainHookUrl?: string;
  /** The Bearer token the retrain receiver sends (the Secret's retrain-hook-token). */
  retrainHookToken?: string;
}

/** The retrain-hook's in-cluster webhook URL in alertmanager.yaml. */
export const clusterRetrainHookUrl = 'http://retrain-hook.fraud.svc.cluster.local/alertmanager/webhook';

/** Config (with `@@DIR@@` for testkit's startAlertmanager to fill in) and the files to put beside it. */
export function localAlertmanagerConfig(options: LocalAlertmanagerOptions): {
  config: object;
  files: Record<string, string>;
} {
  const timeScale = options.timeScale ?? 1;
  const rewrite = (value: unknown, key?: string): unknown => {
    if (typeof value === 'string') {
      if (key && /^(group_wait|group_interval|repeat_interval|resolve_timeout)$/.test(key)) {
        return compressDuration(value, timeScale);
      }
      if (value.startsWith('http://alert-relay.')) return `${options.receiverUrl}/pager`;
      if (value === clusterRetrainHookUrl) return options.retrainHookUrl ?? `${options.receiverUrl}/retrain`;
      return value.replace(secretsMount, '@@DIR@@/').replace(configMount, '@@DIR@@/');
    }
    if (Array.isArray(value)) return value.map((v) => rewrite(v));
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rewrite(v, k)]));
    }
    return value;
  };
  const config = rewrite(parse(readFileSync(alertmanagerConfigFile, 'utf8'))) as object;
  return {
    config,
    files: {
      'fraud.tmpl': readFileSync(chatTemplateFile, 'utf8'),
      'pager-token': options.pagerToken ?? 'local-pager-token',
      'retrain-hook-token': options.retrainHookToken ?? 'local-retrain-hook-token',
      'chat-webhook-url': `${options.receiverUrl}/chat`,
    },
  };
}
