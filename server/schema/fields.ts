// The kinds of field a request body is made of (an id, an amount, an instant, a profile text), as
// JSON Schema built with TypeBox: each carries the limits of engine/limits.ts and, under `x-error`,
// the message the server answers when a value is not of that kind (server/schema/body-check.ts).
import { Type, type TSchema } from '@sinclair/typebox';
import { AMOUNT_CENTS_MAX, ID_LENGTH_MAX, TEXT_LENGTH_MAX } from '../../engine/limits.js';

/** The largest instant an integer `at` may carry: the end of JavaScript's Date range, in ms. */
export const INSTANT_MS_MAX = 8_640_000_000_000_000;

/** Ids are 1-64 characters of [A-Za-z0-9._:-] (engine/rules/validate.ts isId). */
export const Id = (description?: string) => Type.String({
  minLength: 1, maxLength: ID_LENGTH_MAX, pattern: '^[A-Za-z0-9._:-]+$',
  'x-error': `must be 1-${ID_LENGTH_MAX} characters of [A-Za-z0-9._:-]`,
  ...(description === undefined ? {} : { description }),
});

/** An integer between `min` and `max`, both included. */
export const Int = (min: number, max: number, description?: string) => Type.Integer({ minimum: min, maximum: max, ...(description === undefined ? {} : { description }) });

/** An amount of money in cents: a non-negative integer up to AMOUNT_CENTS_MAX (`min` 1 where zero means nothing). */
export const Cents = (min: number, description?: string) => Int(min, AMOUNT_CENTS_MAX, description);

/** A free text of 1..TEXT_LENGTH_MAX characters (a name, an address, a reason). */
export const Text = (description?: string) => Type.String({ minLength: 1, maxLength: TEXT_LENGTH_MAX, ...(description === undefined ? {} : { description }) });

/** The message of a value outside an enumeration, as engine/rules/validate.ts checkEnum writes it. */
export const enumMessage = (values: readonly string[]): string => `must be one of ${values.map((v) => JSON.stringify(v)).join(', ')}`;

/** One of `values`; `message` when the server's words for it differ from checkEnum's. */
export function Enum<T extends string>(values: readonly T[], description?: string, message = enumMessage(values)) {
  return Type.Unsafe<T>({ type: 'string', enum: [...values], 'x-error': message, ...(description === undefined ? {} : { description }) });
}

/**
 * An instant: ISO-8601 with an offset (JSON), or integer milliseconds since the epoch (msgpack, and
 * JSON too). Whether the day exists and the instant is not too far ahead is checked after the shape.
 */
export const Instant = (description = 'ISO-8601 with an offset (`2026-11-22T10:00:00Z`), or integer milliseconds since the epoch; not before 2000-01-01, at most 5 minutes ahead') =>
  Type.Unsafe<string | number>({
    type: ['string', 'integer'], minimum: 0, maximum: INSTANT_MS_MAX,
    pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:\\d{2})$',
    'x-kind': 'instant', description,
  });

/** A calendar date `YYYY-MM-DD`; whether the calendar has that day is checked after the shape. */
export const Day = (description?: string) => Type.String({
  pattern: '^\\d{4}-\\d{2}-\\d{2}$', 'x-error': 'must be a date YYYY-MM-DD', ...(description === undefined ? {} : { description }),
});

/** The options every request body shares: no field other than the listed ones. */
export const CLOSED = { additionalProperties: false } as const;

/** A schema's description, shortened: what the document shows beside a field. */
export function described<T extends TSchema>(schema: T, description: string): T {
  return { ...schema, description };
}

/** The same schema, whose absence the server answers with its `x-error` message instead of `required`. */
export function missingSaysError<T extends TSchema>(schema: T): T {
  return { ...schema, 'x-missing': schema['x-error'] as string };
}
