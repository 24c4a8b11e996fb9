// How an issued coupon is shown (docs/api.md, Coupons): its record as the API answers it, instants
// as ISO strings like the rest of the API, and as one row of the coupons CSV export.
import { couponStateAt, type CouponRecord, type CouponStateName } from './coupons.js';

const iso = (ms: number): string => new Date(ms).toISOString();

/** A coupon as `GET /v1/coupons/{code}` and the member's coupon list answer it. */
export interface CouponView {
  code: string;
  templateId: string;
  memberId: string;
  /**
   * The stored state. A shard has no clock, so a coupon past `expiresAt` stays `active` here until
   * the sweep marks it `expired` (dated at its expiry); it can no longer be used meanwhile.
   */
  state: CouponStateName;
  issuedAt: string;
  validFrom: string;
  expiresAt: string;
  source: string;
  /** The order whose purchase issued it through a rule, else null. */
  orderId: string | null;
  usedOrderId: string | null;
  discountCents: number;
  history: Array<{ state: CouponStateName; at: string }>;
}

/** A coupon's view, with its state at `atMs` (`at`, `stateAt`: null before its issue) when asked. */
export function couponView(c: CouponRecord, atMs?: number): CouponView & { at?: string; stateAt?: CouponStateName | null } {
  const view: CouponView & { at?: string; stateAt?: CouponStateName | null } = {
    code: c.code, templateId: c.templateId, memberId: c.memberId, state: c.state,
    issuedAt: iso(c.issuedAtMs), validFrom: iso(c.validFromMs), expiresAt: iso(c.expiresAtMs),
    source: c.source, orderId: c.issuedByOrderId, usedOrderId: c.usedOrderId, discountCents: c.discountCents,
    history: c.history.map(([state, at]) => ({ state, at: iso(at) })),
  };
  if (atMs !== undefined) {
    view.at = iso(atMs);
    view.stateAt = couponStateAt(c, atMs);
  }
  return view;
}

/** An active coupon as the member view lists it. */
export interface HeldCoupon { code: string; templateId: string; expiresAt: string }

export function heldCoupon(c: CouponRecord): HeldCoupon {
  return { code: c.code, templateId: c.templateId, expiresAt: iso(c.expiresAtMs) };
}

/** The columns of the coupons CSV export, in order. */
export const COUPON_COLUMNS = [
  'code', 'templateId', 'memberId', 'state', 'issuedAt', 'validFrom', 'expiresAt', 'source', 'orderId', 'usedOrderId', 'discountCents',
] as const;

/** One coupon as the export's cells, in COUPON_COLUMNS order (null: an empty cell). */
export function couponCells(c: CouponRecord): Array<string | number | null> {
  return [
    c.code, c.templateId, c.memberId, c.state, iso(c.issuedAtMs), iso(c.validFromMs), iso(c.expiresAtMs),
    c.source, c.issuedByOrderId, c.usedOrderId, c.discountCents,
  ];
}
