// Small validators for untrusted JSON, shared by the program validator and the HTTP routes: each
// checks one field, names it by its path (`tiers[1].earn.cents`) and throws a FieldError.

import { ID_LENGTH_MAX, TEXT_LENGTH_MAX } from '../limits.js';

/** A parsed JSON object whose keys have been checked by `readObject`. */
export type Fields = Record<string, unknown>;

/** What a failed validation reports: the path of the wrong field and why it is wrong. */
export interface FieldProblem {
  field: string;
  message: string;
}

/** Thrown by the validators below; `validate` turns it into a result so it never escapes a handler. */
export class FieldError extends Error {
  readonly field: string;

  constructor(field: string, message: string) {
    super(message);
    this.name = 'FieldError';
    this.field = field;
  }
}

/** The field name reported when the document itself (not one of its fields) is wrong. */
export const ROOT_FIELD = '(root)';

/** Keys that could reach an object's prototype if a later step ever merged or copied the input. */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
const ID_PATTERN = /^[A-Za-z0-9._:-]+$/;

export interface IntRange {
  min: number;
  max: number;
}

export interface CountRange {
  min: number;
  max: number;
}

export interface StringRule {
  /** Shortest accepted length in UTF-16 code units; 1 unless told. */
  minLength?: number;
  /** Longest accepted length in UTF-16 code units; TEXT_LENGTH_MAX unless told. */
  maxLength?: number;
  pattern?: RegExp;
  /** Message when `pattern` does not match. */
  patternMessage?: string;
}

export function isSafeInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

/** Ids are 1-64 characters of [A-Za-z0-9._:-] (docs/rules.md §0). */
export function isId(value: unknown): value is string {
  return typeof value === 'string' && value.length >= 1 && value.length <= ID_LENGTH_MAX && ID_PATTERN.test(value);
}

/** The path of `key` inside the object at `path` ('' is the document itself). */
export function fieldPath(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** The path of element `index` of the array at `path`. */
export function indexPath(path: string, index: number): string {
  return `${path}[${index}]`;
}

/** Runs a validation that throws FieldError and returns its value or the first problem found. */
export function validate<T>(check: () => T): ({ ok: true; value: T }) | ({ ok: false } & FieldProblem) {
  try {
    return { ok: true, value: check() };
  } catch (error) {
    if (error instanceof FieldError) return { ok: false, field: error.field, message: error.message };
    throw error;
  }
}

/**
 * Checks that `value` is a plain object holding only `keys`, and returns it. Forbidden keys are
 * reported before unknown ones so that `__proto__` is always named as what it is.
 */
export function readObject(value: unknown, path: string, keys: readonly string[]): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FieldError(path === '' ? ROOT_FIELD : path, 'must be an object');
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    throw new FieldError(path === '' ? ROOT_FIELD : path, 'must be a plain object');
  }
  const present = Object.keys(value);
  for (const key of present) {
    if (FORBIDDEN_KEYS.has(key)) throw new FieldError(fieldPath(path, key), 'forbidden field name');
  }
  for (const key of present) {
    if (!keys.includes(key)) throw new FieldError(fieldPath(path, key), 'unknown field');
  }
  return value as Fields;
}

/** Checks that `value` is an array of `min..max` elements, and returns it. */
export function readArray(value: unknown, field: string, count: CountRange): unknown[] {
  if (!Array.isArray(value)) throw new FieldError(field, 'must be an array');
  if (value.length < count.min || value.length > count.max) {
    throw new FieldError(field, count.min === count.max
      ? `must have ${count.min} items`
      : `must have between ${count.min} and ${count.max} items`);
  }
  return value;
}

/** True when `obj` carries `key` with a value other than undefined. */
export function has(obj: Fields, key: string): boolean {
  return Object.hasOwn(obj, key) && obj[key] !== undefined;
}

/** The value of a field that must be present (null counts as present). */
export function requiredField(obj: Fields, key: string, path: string): unknown {
  if (!has(obj, key)) throw new FieldError(fieldPath(path, key), 'required');
  return obj[key];
}

export function checkInt(value: unknown, field: string, range: IntRange): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new FieldError(field, 'must be an integer');
  if (!Number.isSafeInteger(value)) throw new FieldError(field, 'must be a safe integer');
  if (value < range.min || value > range.max) {
    throw new FieldError(field, `must be between ${range.min} and ${range.max}`);
  }
  return value;
}

export function checkString(value: unknown, field: string, rule: StringRule = {}): string {
  if (typeof value !== 'string') throw new FieldError(field, 'must be a string');
  const minLength = rule.minLength ?? 1;
  const maxLength = rule.maxLength ?? TEXT_LENGTH_MAX;
  if (value.length < minLength || value.length > maxLength) {
    throw new FieldError(field, `must be between ${minLength} and ${maxLength} characters long`);
  }
  if (rule.pattern !== undefined && !rule.pattern.test(value)) {
    throw new FieldError(field, rule.patternMessage ?? `must match ${String(rule.pattern)}`);
  }
  return value;
}

const DATE_TEXT = /^(\d{4})-(\d{2})-(\d{2})$/;
const INSTANT_TEXT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2}))$/;
const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Days of a month of the proleptic Gregorian calendar (`month` 1-12). */
export function daysInMonth(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return month === 2 && leap ? 29 : MONTH_DAYS[month - 1]!;
}

/** Whether year-month-day names a day the calendar has: no 30 February, no 31 April, no month 13. */
export function isCalendarDate(year: number, month: number, day: number): boolean {
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
}

/**
 * A calendar date `YYYY-MM-DD` that exists, or a FieldError naming `field`. JavaScript's Date
 * rolls `2026-02-30` over to 2 March; the parts are checked here instead.
 */
export function checkDate(value: unknown, field: string): string {
  const m = typeof value === 'string' ? DATE_TEXT.exec(value) : null;
  if (m === null) throw new FieldError(field, 'must be a date YYYY-MM-DD');
  if (!isCalendarDate(Number(m[1]), Number(m[2]), Number(m[3]))) throw new FieldError(field, `is not a date the calendar has (${String(value)})`);
  return value as string;
}

/**
 * An instant in ISO-8601 with an offset (`2026-11-22T10:00:00Z`, `2026-11-22T18:00+08:00`, up to
 * 9 fraction digits) as ms since the epoch, or a FieldError naming `field`. Every part is checked
 * before Date.parse sees it: Date.parse takes `2026-02-30` as 2 March and `T24:00` as the next
 * day's midnight, and both are refused here, as are a 60th second and offsets past ±23:59.
 */
export function parseInstant(value: unknown, field: string): number {
  const m = typeof value === 'string' ? INSTANT_TEXT.exec(value) : null;
  if (m === null) throw new FieldError(field, 'must be an ISO-8601 time with an offset, e.g. 2026-11-22T10:00:00Z');
  if (!isCalendarDate(Number(m[1]), Number(m[2]), Number(m[3]))) throw new FieldError(field, `is not a date the calendar has (${m[1]}-${m[2]}-${m[3]})`);
  if (Number(m[4]) > 23 || Number(m[5]) > 59 || (m[6] !== undefined && Number(m[6]) > 59)) {
    throw new FieldError(field, 'is not a time of day: hours run 00-23, minutes and seconds 00-59');
  }
  if (m[7] !== undefined && (Number(m[7]) > 23 || Number(m[8]) > 59)) throw new FieldError(field, 'has an offset past ±23:59');
  const ms = Date.parse(value as string);
  if (!Number.isFinite(ms)) throw new FieldError(field, 'is not a valid time');
  return ms;
}

export function checkId(value: unknown, field: string): string {
  if (!isId(value)) throw new FieldError(field, `must be 1-${ID_LENGTH_MAX} characters of [A-Za-z0-9._:-]`);
  return value;
}

export function checkEnum<T extends string>(value: unknown, field: string, values: readonly T[]): T {
  if (typeof value !== 'string' || !(values as readonly string[]).includes(value)) {
    throw new FieldError(field, `must be one of ${values.map((v) => JSON.stringify(v)).join(', ')}`);
  }
  return value as T;
}

export function intField(obj: Fields, key: string, path: string, range: IntRange): number {
  return checkInt(requiredField(obj, key, path), fieldPath(path, key), range);
}

/** An integer that may be left out; undefined when it is. */
export function optionalInt(obj: Fields, key: string, path: string, range: IntRange): number | undefined {
  return has(obj, key) ? intField(obj, key, path, range) : undefined;
}

/** An integer field that must be present and may be null. */
export function nullableInt(obj: Fields, key: string, path: string, range: IntRange): number | null {
  const value = requiredField(obj, key, path);
  return value === null ? null : checkInt(value, fieldPath(path, key), range);
}

export function stringField(obj: Fields, key: string, path: string, rule: StringRule = {}): string {
  return checkString(requiredField(obj, key, path), fieldPath(path, key), rule);
}

export function boolField(obj: Fields, key: string, path: string): boolean {
  const value = requiredField(obj, key, path);
  if (typeof value !== 'boolean') throw new FieldError(fieldPath(path, key), 'must be true or false');
  return value;
}

export function enumField<T extends string>(obj: Fields, key: string, path: string, values: readonly T[]): T {
  return checkEnum(requiredField(obj, key, path), fieldPath(path, key), values);
}

export function idField(obj: Fields, key: string, path: string): string {
  return checkId(requiredField(obj, key, path), fieldPath(path, key));
}

export function objectField(obj: Fields, key: string, path: string, keys: readonly string[]): Fields {
  return readObject(requiredField(obj, key, path), fieldPath(path, key), keys);
}

export function arrayField(obj: Fields, key: string, path: string, count: CountRange): unknown[] {
  return readArray(requiredField(obj, key, path), fieldPath(path, key), count);
}
