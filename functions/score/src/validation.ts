// Request validation with fastify's own Ajv compiler (@fastify/ajv-compiler, the one fastify uses for route
// schemas). The schemas depend on the model card, which is only known once the model is loaded (after the
// server is already answering health probes), so they are compiled then rather than as route schemas.
// Options differ from fastify's defaults on purpose: no type coercion ("12" is not 12, "NaN" is not a
// number), no silent removal of extra fields (they are rejected), no defaults, first error only (DoS-safe).
import { AjvCompiler } from '@fastify/ajv-compiler';
import type { ErrorObject } from 'ajv';

export interface Validator<T> {
  (value: unknown): value is T;
  errors?: ErrorObject[] | null;
}

const buildCompiler = AjvCompiler();
const compile = buildCompiler(
  {},
  { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
) as (route: { schema: object; method: string; url: string; httpPart: string }) => Validator<unknown>;

export function compileValidator<T>(schema: object): Validator<T> {
  return compile({ schema, method: 'POST', url: '/', httpPart: 'body' }) as Validator<T>;
}

/** "body/amount must be <= 1000000", "body must NOT have additional property 'foo'" and the like. */
export function describeErrors(errors: ErrorObject[] | null | undefined, prefix: string): string {
  const e = errors?.[0];
  if (!e) return `${prefix} is invalid`;
  const where = `${prefix}${e.instancePath}`;
  switch (e.keyword) {
    case 'additionalProperties':
      return `${where} must NOT have additional property '${(e.params as { additionalProperty: string }).additionalProperty}'`;
    case 'required':
      return `${where} must have required property '${(e.params as { missingProperty: string }).missingProperty}'`;
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
      return `${where} must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`;
    }
    default:
      return `${where} ${e.message ?? 'is invalid'}`;
  }
}

/** A 4xx with a message for the client; the error handler turns it into {"error": message}. */
export class ClientError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}
