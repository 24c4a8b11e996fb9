// Checks a request body's shape against its JSON Schema (server/schema/bodies.ts) with ajv, compiled
// once per schema when the server starts, and answers the first problem in the server's own words:
// the field's path (`items[0].qty`) and the message engine/rules/validate.ts would give, so that a
// client sees the same 400 whichever check finds it. What a schema cannot say (a day the calendar
// lacks, an instant too far ahead, a phone number's country) is checked after, by the op builders.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { TSchema } from '@sinclair/typebox';
import { FieldError, ROOT_FIELD } from '../../engine/rules/validate.js';

/** Keys that could reach an object's prototype: named as forbidden, not as unknown (validate.ts readObject). */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
const ISO_MESSAGE = 'must be an ISO-8601 time with an offset, e.g. 2026-11-22T10:00:00Z';

/** The annotations the schemas carry for the document and for this file's messages. */
export const ANNOTATIONS = ['x-error', 'x-missing', 'x-kind', 'x-pattern-error'] as const;

/**
 * Strict (an unknown keyword in a schema is a startup error), every problem collected so that the one
 * the server's own order of checks would name first can be chosen, the failing value and schema kept.
 * Union types are the instants' `string | integer`.
 */
export const ajv = new Ajv({ strict: true, allErrors: true, verbose: true, allowUnionTypes: true, coerceTypes: false, useDefaults: false, removeAdditional: false });
for (const keyword of ANNOTATIONS) ajv.addKeyword({ keyword, schemaType: 'string' });

type Schema = Record<string, unknown>;
const compiled = new WeakMap<TSchema, ValidateFunction>();

/** The validator of `schema`, compiled on first use (the route catalogue asks for every one at startup). */
export function validatorOf(schema: TSchema): ValidateFunction {
  let fn = compiled.get(schema);
  if (fn === undefined) {
    fn = ajv.compile(schema);
    compiled.set(schema, fn);
  }
  return fn;
}

/** Throws the FieldError of the first problem of `body` against `schema`, in the server's order and words. */
export function checkBody(schema: TSchema, body: unknown): void {
  const fn = validatorOf(schema);
  if (fn(body)) return;
  const errors = fn.errors ?? [];
  let best: { err: ErrorObject; key: number[] } | null = null;
  for (const err of errors) {
    if (err.keyword === 'anyOf' || err.keyword === 'if') continue;
    const key = positionOf(schema as Schema, err);
    if (best === null || before(key, best.key)) best = { err, key };
  }
  if (best === null) throw new FieldError(ROOT_FIELD, 'the request is malformed');
  throw problemOf(best.err);
}

function segmentsOf(pointer: string): string[] {
  return pointer === '' ? [] : pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** A JSON pointer as the server names a field: `items[0].qty`. */
export function fieldOf(segments: readonly string[]): string {
  let path = '';
  for (const s of segments) path = /^\d+$/.test(s) ? `${path}[${s}]` : path === '' ? s : `${path}.${s}`;
  return path;
}

/** The field an error is about: the missing or unknown property for those, else the value's own path. */
function errorSegments(err: ErrorObject): string[] {
  const segments = segmentsOf(err.instancePath);
  if (err.keyword === 'required') segments.push((err.params as { missingProperty: string }).missingProperty);
  if (err.keyword === 'additionalProperties') segments.push((err.params as { additionalProperty: string }).additionalProperty);
  return segments;
}

/**
 * Where the server's own checks reach an error's field: each object's forbidden and unknown keys
 * first, then its properties in the schema's order (the order the op builders read them), an array's
 * elements in order; a shorter path (the container) before what it holds.
 */
function positionOf(root: Schema, err: ErrorObject): number[] {
  const segments = errorSegments(err);
  const key: number[] = [];
  let schema: Schema | undefined = root;
  segments.forEach((s, i) => {
    const last = i === segments.length - 1;
    if (last && err.keyword === 'additionalProperties') {
      key.push(FORBIDDEN_KEYS.has(s) ? -2 : -1);
      return;
    }
    if (schema !== undefined && schema['type'] === 'array') {
      key.push(Number(s));
      schema = schema['items'] as Schema | undefined;
      return;
    }
    const properties = schema?.['properties'] as Record<string, Schema> | undefined;
    key.push(properties === undefined ? 0 : Object.keys(properties).indexOf(s));
    schema = properties?.[s];
  });
  return key;
}

function before(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return a.length < b.length;
}

/** The FieldError the server answers for one ajv error. */
function problemOf(err: ErrorObject): FieldError {
  const segments = errorSegments(err);
  const field = segments.length === 0 ? ROOT_FIELD : fieldOf(segments);
  const schema = (err.parentSchema ?? {}) as Schema;
  return new FieldError(field, messageOf(err, schema));
}

function messageOf(err: ErrorObject, schema: Schema): string {
  const custom = schema['x-error'] as string | undefined;
  const instant = schema['x-kind'] === 'instant';
  switch (err.keyword) {
    case 'additionalProperties': {
      const name = (err.params as { additionalProperty: string }).additionalProperty;
      return FORBIDDEN_KEYS.has(name) ? 'forbidden field name' : 'unknown field';
    }
    case 'required': {
      const name = (err.params as { missingProperty: string }).missingProperty;
      const property = (schema['properties'] as Record<string, Schema> | undefined)?.[name];
      return (property?.['x-missing'] as string | undefined) ?? 'required';
    }
    case 'type':
      if (instant) return typeof err.data === 'number' ? 'must be an integer' : ISO_MESSAGE;
      return custom ?? typeMessage(schema['type']);
    case 'minimum':
    case 'maximum':
      if (!Number.isSafeInteger(err.data)) return 'must be a safe integer';
      return `must be between ${String(schema['minimum'])} and ${String(schema['maximum'])}`;
    case 'minLength':
    case 'maxLength':
      return custom ?? `must be between ${String(schema['minLength'] ?? 0)} and ${String(schema['maxLength'])} characters long`;
    case 'pattern':
      if (instant) return ISO_MESSAGE;
      return (schema['x-pattern-error'] as string | undefined) ?? custom ?? `must match /${String(schema['pattern'])}/`;
    case 'minItems':
    case 'maxItems': {
      const min = Number(schema['minItems'] ?? 0);
      const max = Number(schema['maxItems']);
      return custom ?? (min === max ? `must have ${min} items` : `must have between ${min} and ${max} items`);
    }
    default:
      return custom ?? err.message ?? 'is invalid';
  }
}

function typeMessage(type: unknown): string {
  switch (type) {
    case 'object': return 'must be an object';
    case 'integer': return 'must be an integer';
    case 'string': return 'must be a string';
    case 'array': return 'must be an array';
    case 'boolean': return 'must be true or false';
    default: return `must be of type ${String(type)}`;
  }
}
