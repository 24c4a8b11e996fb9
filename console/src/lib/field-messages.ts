// The validator's refusals (docs/program.md "What the validator refuses", and the request fields'
// own) in the chosen language. The server's `message` is stable English; each known form maps to a
// message key with its figures. A bound of a money field is written as money, never as cents.
import type { Words } from './words.js';

/** How a field's bounds are written: money fields pass their formatter, others write numbers. */
export type BoundWriter = (n: number) => string;

const DUPLICATES: Record<string, string> = {
  'tier id': 'tier', 'top-up bonus step': 'topupStep', 'product id': 'product', channel: 'channel',
  'coupon id': 'coupon', 'coupon rule id': 'couponRule', 'campaign id': 'campaign', day: 'day',
  'store id': 'store', sku: 'sku', 'reward id': 'reward',
};

const FIXED: Record<string, string> = {
  required: 'required',
  'is required': 'required',
  'unknown field': 'unknownField',
  'forbidden field name': 'unknownField',
  'must be an object': 'object',
  'must be a plain object': 'object',
  'must be an array': 'array',
  'must be an integer': 'integer',
  'must be a safe integer': 'integer',
  'must be a string': 'text',
  'must be true or false': 'boolean',
  'must be 3 uppercase letters (ISO 4217)': 'currency',
  "the first tier's threshold must be 0": 'firstThreshold',
  'thresholds must be strictly ascending': 'ascending',
  'unknown tier id': 'unknownTier',
  'tierId and forceTierId cannot both be set': 'tierAndForce',
  'must include at least one of walletCents, points, tierId, forceTierId, extendDays, card': 'includesEmpty',
  'only a coupon reward names a template': 'templateOnlyCoupon',
  'required for a coupon reward': 'templateRequired',
  'must have amountCents or percentBps': 'discountKind',
  'amountCents and percentBps cannot both be set': 'discountBoth',
  'only a percentBps discount has a cap': 'capOnlyPercent',
  'validDays and a fixed window cannot both be set': 'windowAndDays',
  'required when validDays is null': 'windowRequired',
  'must not be before validFrom': 'beforeValidFrom',
  'must not be before from': 'beforeFrom',
  'must not be after to': 'afterTo',
  'must be a date YYYY-MM-DD': 'date',
  'unknown coupon template id': 'unknownTemplate',
  'only a purchase rule has a net to reach': 'netOnPurchase',
  'a birthday rule has no channel: must be null': 'birthdayChannel',
  "a birthday rule's template may not have a totalMax": 'birthdayTotalMax',
  'must be an email address': 'email',
  'must not be 0': 'notZero',
  'is more than 5 minutes in the future': 'future',
  'must not be in the future': 'notFuture',
  'must not be in the future: the what-if replays recorded history': 'notFuture',
  'names no field to change': 'nothingToChange',
  'must be an ISO-8601 time with an offset, e.g. 2026-11-22T10:00:00Z': 'instant',
  'is not a valid time': 'instant',
  'must be a coupon code: 12 letters and digits (hyphens and spaces allowed)': 'couponCode',
};

const PATTERNS: Array<[RegExp, string, (m: RegExpExecArray, bound: BoundWriter) => Record<string, unknown>]> = [
  [/^must be between (-?\d+) and (-?\d+)$/, 'between', (m, b) => ({ min: b(Number(m[1])), max: b(Number(m[2])) })],
  [/^must be between (\d+) and (\d+) characters long$/, 'length', (m) => ({ min: m[1], max: m[2] })],
  [/^must have (\d+) items$/, 'itemsExactly', (m) => ({ n: m[1] })],
  [/^must have between (\d+) and (\d+) items$/, 'itemsBetween', (m) => ({ min: m[1], max: m[2] })],
  [/^must be 1-(\d+) characters of \[A-Za-z0-9._:-\]$/, 'id', (m) => ({ max: m[1] })],
  [/^must be one of (.+)$/, 'oneOf', (m) => ({ values: m[1]!.replace(/"/g, '') })],
  [/^must be an IANA time zone/, 'timezone', () => ({})],
  [/^must be null or an ISO 3166 country code/, 'country', () => ({})],
  [/^must not be before (\d{4}-\d{2}-\d{2})/, 'notBefore', (m) => ({ date: m[1] })],
  [/^is not a date the calendar has \((.+)\)$/, 'noSuchDate', (m) => ({ date: m[1] })],
  [/^is not a possible phone number/, 'phone', () => ({})],
  [/^has no country code/, 'phoneCountry', () => ({})],
  [/^is not a time of day/, 'instant', () => ({})],
  [/^has an offset past/, 'instant', () => ({})],
  [/^a report covers at most (\d+) days$/, 'reportDays', (m) => ({ n: m[1] })],
  [/^repeats /, 'repeated', () => ({})],
];

/** The message without the `field: ` the request routes put before it. */
export function bareMessage(message: string, field: string | undefined): string {
  if (field !== undefined && message.startsWith(`${field}: `)) return message.slice(field.length + 2);
  return message;
}

/** A refusal of one field in words: a known form translated, any other the server's words as they are. */
export function fieldMessage(words: Words, message: string, field?: string, bound: BoundWriter = String): string {
  const bare = bareMessage(message, field);
  const fixed = FIXED[bare];
  if (fixed !== undefined) return words.t(`validator.${fixed}`);
  const dup = /^duplicate (.+)$/.exec(bare);
  if (dup !== null && DUPLICATES[dup[1]!] !== undefined) return words.t(`validator.duplicate.${DUPLICATES[dup[1]!]}`);
  for (const [pattern, key, params] of PATTERNS) {
    const m = pattern.exec(bare);
    if (m !== null) return words.t(`validator.${key}`, params(m, bound));
  }
  return words.t('validator.other', { message: bare });
}

/** Every validator message key this module can produce: the test checks each has words in every language. */
export function validatorKeys(): string[] {
  const keys = new Set<string>([...Object.values(FIXED), ...PATTERNS.map((p) => p[1]), 'other']);
  for (const d of Object.values(DUPLICATES)) keys.add(`duplicate.${d}`);
  return [...keys].map((k) => `validator.${k}`).sort();
}
