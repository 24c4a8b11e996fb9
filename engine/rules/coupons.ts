// The pure arithmetic and validity of coupons (docs/rules.md §12): what a coupon takes off an order,
// whether a coupon can be used on an order and why not, when a coupon issued at an instant expires,
// whether one more may be issued, which rules fire for an event, and the printable code format.
// No clock and no randomness: the caller passes every instant and the random bytes of a code.

import { localDateOf, startOfLocalDay } from './calendar.js';
import type { Channel, CouponDiscount, CouponRule, CouponTemplate, CouponTrigger, Program } from './program-types.js';
import { mulDiv } from './returns.js';

/** The four states of an issued coupon; only an `active` one can be used. */
export type CouponStateName = 'active' | 'used' | 'expired' | 'revoked';

/** An issued coupon as the engine keeps it. */
export interface CouponState {
  code: string;
  templateId: string;
  memberId: string;
  state: CouponStateName;
  issuedAtMs: number;
  /** The first instant it can be used: the issue, or the start of a fixed window that had not begun. */
  validFromMs: number;
  /** The first instant it can no longer be used (exclusive end). */
  expiresAtMs: number;
}

/**
 * An issued coupon as a shard stores it (the `coupons` database, msgpack, keyed by code; the code's
 * hash lands on its member's shard: engine/router/coupon-gate.ts). Its state changes are kept with
 * their instants, so its state at any earlier instant is known (couponStateAt).
 */
export interface CouponRecord extends CouponState {
  /** What issued it: `rule:<ruleId>`, `campaign:<campaignId>`, `admin` (one by hand) or `bulk` (a bulk issue). */
  source: string;
  /** The order whose purchase (or upgrade) issued it through a rule or a campaign, else null. */
  issuedByOrderId: string | null;
  /** The order that used it and what it took off that order; null and 0 while unused or given back. */
  usedOrderId: string | null;
  discountCents: number;
  /** Every change of state with its instant, oldest first; the first is `['active', issuedAtMs]`. */
  history: Array<[CouponStateName, number]>;
}

/**
 * The coupon's state at `atMs`: that of its latest change at or before then (of two at one
 * instant, the later written); null before its issue, when it did not exist yet. Changes are
 * usually in time order, but an op may be dated back (a revocation dated before a later use is
 * not), so the latest instant is looked for rather than the last entry.
 */
export function couponStateAt(coupon: Pick<CouponRecord, 'history'>, atMs: number): CouponStateName | null {
  let state: CouponStateName | null = null;
  let latestMs = Number.NEGATIVE_INFINITY;
  for (const [s, at] of coupon.history) {
    if (at <= atMs && at >= latestMs) { state = s; latestMs = at; }
  }
  return state;
}

/** The parts of an order a coupon's checks and value depend on. */
export interface CouponOrder {
  memberId: string;
  /** The member's tier when the order is placed. */
  tierId: string;
  channel: Channel;
  /** `amountCents − discountCents`: what the minimum spend and a percentage apply to. */
  baseCents: number;
  atMs: number;
}

/**
 * Why a coupon cannot be used on an order (the `message` of `coupon_not_usable`). Stable names:
 * clients and reports key on them.
 */
export type CouponRefusal =
  | 'other_member' // the coupon was issued to another member
  | 'used' // already used (and not given back by a full return)
  | 'revoked' // revoked by an administrator
  | 'expired' // past its expiry, whether or not the sweep has marked it yet
  | 'not_yet_valid' // its fixed window has not begun
  | 'template_removed' // the program no longer has its template, so it has no value
  | 'template_repeated' // the order already uses a coupon of the same template
  | 'tier' // the member's tier is not among the template's eligibleTiers
  | 'channel' // the order's channel is not among the template's channels
  | 'min_spend'; // amountCents − discountCents is below the template's minSpendCents

/** Why no coupon of a template may be issued now (`coupon_limit`, or a rule skipping silently). */
export type CouponIssueRefusal =
  | 'template_inactive' // the template's `active` is false
  | 'window_over' // a fixed window whose last local day has passed
  | 'member_limit' // perMemberMax coupons of it were already issued to the member
  | 'total_limit'; // totalMax coupons of it were already issued in all

/**
 * What one coupon takes off an order: `amountCents`, or `floor(baseCents × percentBps / 10,000)`
 * capped at `maxCents`; never more than `leftCents`, what earlier coupons of the order left of
 * `baseCents`. Exact for every amount the program and requests allow (the product can pass 2^53).
 */
export function couponDiscountCents(discount: CouponDiscount, baseCents: number, leftCents: number): number {
  const value = 'amountCents' in discount
    ? discount.amountCents
    : Math.min(mulDiv(baseCents, discount.percentBps, 10_000), discount.maxCents ?? Number.MAX_SAFE_INTEGER);
  return Math.max(0, Math.min(value, leftCents));
}

/**
 * The value of each coupon of an order in the order given, each on the same `baseCents` and
 * taking at most what the earlier ones left: the total never exceeds `baseCents`.
 */
export function orderCouponDiscounts(discounts: readonly CouponDiscount[], baseCents: number): number[] {
  let leftCents = baseCents;
  return discounts.map((discount) => {
    const cents = couponDiscountCents(discount, baseCents, leftCents);
    leftCents -= cents;
    return cents;
  });
}

/**
 * Why `coupon` cannot be used on `order`, or null when it can. `template` is the program's
 * template of that id (undefined when the program no longer has it); `templatesInOrder` the
 * templates of the coupons placed before it in the same order. The first failing check names the
 * reason, in this order: owner, state, time, template, repetition, tier, channel, minimum spend.
 * A template's `active` is not checked: it stops new issues, not coupons already given.
 */
export function couponRefusal(
  coupon: CouponState,
  template: CouponTemplate | undefined,
  order: CouponOrder,
  templatesInOrder: ReadonlySet<string>,
): CouponRefusal | null {
  if (coupon.memberId !== order.memberId) return 'other_member';
  if (coupon.state === 'used') return 'used';
  if (coupon.state === 'revoked') return 'revoked';
  if (coupon.state === 'expired' || order.atMs >= coupon.expiresAtMs) return 'expired';
  if (order.atMs < coupon.validFromMs) return 'not_yet_valid';
  if (template === undefined) return 'template_removed';
  if (templatesInOrder.has(coupon.templateId)) return 'template_repeated';
  if (template.eligibleTiers !== null && !template.eligibleTiers.includes(order.tierId)) return 'tier';
  if (!template.channels.includes(order.channel)) return 'channel';
  if (order.baseCents < template.minSpendCents) return 'min_spend';
  return null;
}

const DAY_MS = 86_400_000;

/** The local date `days` after year-month-day, as the same three parts (proleptic Gregorian). */
function addDays(year: number, month: number, day: number, days: number): { year: number; month: number; day: number } {
  const d = new Date(Date.UTC(year, month - 1, day) + days * DAY_MS);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

/** The instant local midnight ends date `YYYY-MM-DD` (the start of the next local day). */
function endOfLocalDate(date: string, timeZone: string): number {
  const next = addDays(Number(date.slice(0, 4)), Number(date.slice(5, 7)), Number(date.slice(8, 10)), 1);
  return startOfLocalDay(next.year, next.month, next.day, timeZone);
}

/**
 * When a coupon of `template` issued at `issuedAtMs` can first and last be used. With `validDays`:
 * from the issue to the end of the local day `validDays` days after the issue's local date (a
 * 30-day coupon issued on 2 March at any hour is valid through 1 April, so never less than
 * `validDays` × 24 hours, and always expires at a local midnight). With a fixed window: from the
 * start of `validFrom` (or the issue, if later) to the end of `validTo`, local dates inclusive.
 * A window already over gives `expiresAtMs ≤ issuedAtMs`; `issueRefusal` refuses such an issue.
 */
export function couponValidity(
  template: Pick<CouponTemplate, 'validDays' | 'validFrom' | 'validTo'>,
  issuedAtMs: number,
  timeZone: string,
): { validFromMs: number; expiresAtMs: number } {
  if (template.validDays !== null) {
    const issued = localDateOf(issuedAtMs, timeZone);
    const last = addDays(issued.year, issued.month, issued.day, template.validDays);
    const afterLast = addDays(last.year, last.month, last.day, 1);
    return { validFromMs: issuedAtMs, expiresAtMs: startOfLocalDay(afterLast.year, afterLast.month, afterLast.day, timeZone) };
  }
  // The validator guarantees both dates when validDays is null.
  const from = template.validFrom!;
  const startMs = startOfLocalDay(Number(from.slice(0, 4)), Number(from.slice(5, 7)), Number(from.slice(8, 10)), timeZone);
  return { validFromMs: Math.max(startMs, issuedAtMs), expiresAtMs: endOfLocalDate(template.validTo!, timeZone) };
}

/** How many coupons of a template were issued before this one: to the member, and in all. */
export interface IssuedCounts {
  toMember: number;
  total: number;
}

/** Why one more coupon of `template` may not be issued at `atMs`, or null when it may. */
export function issueRefusal(template: CouponTemplate, atMs: number, timeZone: string, issued: IssuedCounts): CouponIssueRefusal | null {
  if (!template.active) return 'template_inactive';
  if (template.validTo !== null && atMs >= endOfLocalDate(template.validTo, timeZone)) return 'window_over';
  if (template.perMemberMax !== null && issued.toMember >= template.perMemberMax) return 'member_limit';
  if (template.totalMax !== null && issued.total >= template.totalMax) return 'total_limit';
  return null;
}

/** The event a coupon rule is checked against. */
export interface CouponEvent {
  trigger: CouponTrigger;
  /** The member's tier after the event (the new tier of an upgrade). */
  tierId: string;
  /** The channel of the event; null for the sweep's birthday gift and events that carry none. */
  channel: Channel | null;
  /** The purchase's net; 0 for other triggers. */
  netCents: number;
}

/**
 * The rules of `program` that fire for `event`, in program order. A rule with `channels` does not
 * fire for an event without a channel. Whether each can issue (template active, caps) is
 * `issueRefusal`'s question.
 */
export function firingCouponRules(program: Program, event: CouponEvent): CouponRule[] {
  return program.couponRules.filter((rule) =>
    rule.trigger === event.trigger
    && (rule.tiers === null || rule.tiers.includes(event.tierId))
    && (rule.channels === null || (event.channel !== null && rule.channels.includes(event.channel)))
    && (event.trigger !== 'purchase' || event.netCents >= rule.minNetCents));
}

/** Crockford's base32 alphabet: digits and capitals without I, L, O and U, so codes read aloud and print unambiguously. */
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** Characters of a coupon code: 12 × 5 = 60 random bits. */
export const COUPON_CODE_LENGTH = 12;
/** Random bytes a code is made from: the first 60 of their 64 bits are used. */
export const COUPON_CODE_BYTES = 8;
const CODE_PATTERN = /^[0-9A-HJKMNP-TV-Z]{12}$/;

/** Whether `text` is a coupon code exactly as issued: 12 characters of Crockford base32 in capitals. */
export function isCouponCode(text: unknown): text is string {
  return typeof text === 'string' && CODE_PATTERN.test(text);
}

/**
 * The code as issued for what a person typed: capitals, hyphens and spaces dropped, and the
 * letters Crockford reads as digits (O as 0; I and L as 1) mapped; null when it is not a code.
 */
export function normalizeCouponCode(text: string): string | null {
  const code = text.toUpperCase().replace(/[-\s]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  return isCouponCode(code) ? code : null;
}

/** The code for the first 60 bits of `bytes` (at least COUPON_CODE_BYTES of them), most significant first. */
export function couponCodeFromBytes(bytes: Uint8Array): string {
  if (bytes.length < COUPON_CODE_BYTES) throw new Error(`a coupon code needs ${COUPON_CODE_BYTES} random bytes, got ${bytes.length}`);
  let code = '';
  for (let i = 0; i < COUPON_CODE_LENGTH; i++) code += CROCKFORD[readBits(bytes, i * 5)];
  return code;
}

/** The 5-bit group of `bytes` starting at bit `offset` (bit 0 is the top bit of byte 0). */
function readBits(bytes: Uint8Array, offset: number): number {
  const byte = offset >> 3;
  const pair = (bytes[byte]! << 8) | (bytes[byte + 1] ?? 0);
  return (pair >> (11 - (offset & 7))) & 31;
}

/** The 60 bits a code carries, as COUPON_CODE_BYTES bytes whose last 4 bits are 0: the inverse of couponCodeFromBytes. */
export function couponCodeBytes(code: string): Uint8Array {
  if (!isCouponCode(code)) throw new Error(`not a coupon code: ${JSON.stringify(code)}`);
  const bytes = new Uint8Array(COUPON_CODE_BYTES);
  for (let i = 0; i < COUPON_CODE_LENGTH; i++) {
    const value = CROCKFORD.indexOf(code[i]!);
    for (let bit = 0; bit < 5; bit++) {
      if ((value >> (4 - bit)) & 1) {
        const at = i * 5 + bit;
        bytes[at >> 3] = bytes[at >> 3]! | (0x80 >> (at & 7));
      }
    }
  }
  return bytes;
}
