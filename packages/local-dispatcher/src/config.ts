// Reads the dispatcher's and the bridge's settings from the environment, with clear errors for bad values.

import type { BridgeOptions } from './bridge.ts';
import type { DispatcherOptions, Ordering } from './dispatcher.ts';

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function oneOf<const T extends string>(
  env: Env,
  name: string,
  allowed: readonly T[],
  fallback: NoInfer<T>,
): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`);
  }
  return raw as T;
}

function required(env: Env, name: string): string {
  const raw = env[name];
  if (!raw) throw new ConfigError(`${name} is required`);
  return raw;
}

function bootstrap(env: Env): string {
  const value = env.KAFKA_BOOTSTRAP ?? '127.0.0.1:9092';
  if (!/^[^:\s]+:\d+$/.test(value))
    throw new ConfigError(`KAFKA_BOOTSTRAP must be host:port, got ${JSON.stringify(value)}`);
  return value;
}

export function dispatcherConfig(env: Env): DispatcherOptions {
  const sinkUrl = required(env, 'SINK_URL');
  try {
    if (new URL(sinkUrl).protocol !== 'http:') throw new Error('not http');
  } catch {
    throw new ConfigError(`SINK_URL must be an http:// URL, got ${JSON.stringify(sinkUrl)}`);
  }
  return {
    bootstrap: bootstrap(env),
    topics: (env.TOPICS ?? 'transactions').split(',').filter(Boolean),
    groupId: env.GROUP_ID ?? 'fraud-scorer-local',
    sinkUrl,
    deadLetterTopic: env.DEAD_LETTER_TOPIC === '' ? undefined : (env.DEAD_LETTER_TOPIC ?? 'transactions-dlq'),
    ordering: oneOf<Ordering>(env, 'ORDERING', ['ordered', 'unordered'], 'ordered'),
    maxInFlightPerPartition: int(env, 'MAX_IN_FLIGHT_PER_PARTITION', 32, 1, 10_000),
    retry: {
      retries: int(env, 'RETRY', 10, 0, 1000),
      backoffDelayMs: int(env, 'BACKOFF_DELAY_MS', 300, 0, 3_600_000),
      backoffPolicy: oneOf(env, 'BACKOFF_POLICY', ['exponential', 'linear'], 'exponential'),
      timeoutMs: int(env, 'TIMEOUT_MS', 30_000, 1, 3_600_000),
    },
    initialOffset: oneOf(env, 'INITIAL_OFFSET', ['earliest', 'latest'], 'latest'),
    sessionTimeoutMs: int(env, 'SESSION_TIMEOUT_MS', 10_000, 6000, 300_000),
  };
}

export function bridgeConfig(env: Env): BridgeOptions {
  return {
    bootstrap: bootstrap(env),
    topic: env.TOPIC ?? 'decisions',
    contentMode: oneOf(env, 'CONTENT_MODE', ['binary', 'structured'], 'binary'),
    port: int(env, 'PORT', 8090, 0, 65535),
    host: env.HOST ?? '127.0.0.1',
    lingerMs: int(env, 'LINGER_MS', 0, 0, 1000),
  };
}
