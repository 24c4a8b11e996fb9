// Running totals of one shard's books, kept in the same transaction as the entries they count,
// so the summary report is a read of a few numbers per shard instead of a scan of every member.
// Amounts are exact at any size: a batch tallies its changes exactly (Tally) and adds them to the
// stored totals once, as numbers while they are safe integers and as decimal strings past that.

/**
 * An amount as stored and answered: a number while it is a safe integer (|n| ≤ 2^53 − 1), else its
 * exact decimal digits (a string), which JSON carries without losing a cent.
 */
export type Count = number | string;

export interface BookTotals {
  members: number;
  membersPerTier: Record<string, number>;
  pointsOutstanding: Count;
  walletOutstandingCents: Count;
  purchases: number;
  returns: number;
  netSalesCents: Count;
  pointsIssued: Count;
  pointsRedeemed: Count;
  pointsExpired: Count;
  pointsClawedBack: Count;
  topupsCents: Count;
  /** Coupons ever issued (docs/rules.md §10.1). */
  couponsIssued: number;
  /** Coupons in state `used` now: uses less the coupons full returns gave back. */
  couponsUsed: number;
  /** Coupons in state `active` now, those past their expiry the sweep has not yet marked included. */
  couponsActive: number;
  /** What the coupons in state `used` now took off their orders. */
  couponDiscountCents: Count;
}

/** The amounts of BookTotals: every field that is a Count. */
export const AMOUNT_FIELDS = [
  'pointsOutstanding', 'walletOutstandingCents', 'netSalesCents', 'pointsIssued', 'pointsRedeemed',
  'pointsExpired', 'pointsClawedBack', 'topupsCents', 'couponDiscountCents',
] as const;

/** The counts of BookTotals besides `members`: numbers, each far below 2^53. */
const COUNT_FIELDS = ['purchases', 'returns', 'couponsIssued', 'couponsUsed', 'couponsActive'] as const;

export function emptyTotals(): BookTotals {
  return {
    members: 0, membersPerTier: {}, pointsOutstanding: 0, walletOutstandingCents: 0, purchases: 0,
    returns: 0, netSalesCents: 0, pointsIssued: 0, pointsRedeemed: 0, pointsExpired: 0,
    pointsClawedBack: 0, topupsCents: 0, couponsIssued: 0, couponsUsed: 0, couponsActive: 0, couponDiscountCents: 0,
  };
}

/**
 * Totals as a shard stored them, every field present: totals written before a field existed (the
 * coupon figures came later) read that field as 0, which it was, since nothing had moved it.
 */
export function readTotals(stored: unknown): BookTotals {
  if (stored === undefined || stored === null) return emptyTotals();
  const t = stored as Partial<BookTotals>;
  return { ...emptyTotals(), ...t, membersPerTier: { ...t.membersPerTier } };
}

/** The coupon ledger kinds, each of which moves the coupon totals (TotalsChange.countCoupon). */
export type CouponEventKind = 'coupon_issue' | 'coupon_use' | 'coupon_restore' | 'coupon_expire' | 'coupon_revoke';

/** An exact value as a Count. */
export function toCount(n: bigint): Count {
  return n >= BigInt(-Number.MAX_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
}

/** The exact sum of two Counts (numbers alone while the sum is a safe integer). */
export function addCounts(a: Count, b: Count): Count {
  if (typeof a === 'number' && typeof b === 'number') {
    const s = a + b;
    if (Number.isSafeInteger(s)) return s;
  }
  return toCount(BigInt(a) + BigInt(b));
}

/**
 * An exact running sum of safe integers: a plain number while it stays safe (the hot path, one
 * addition), spilling into a BigInt only past 2^53 − 1.
 */
export class Tally {
  private n = 0;
  private big = 0n;

  add(x: number): void {
    const s = this.n + x;
    if (Number.isSafeInteger(s)) { this.n = s; return; }
    this.big += BigInt(this.n) + BigInt(x);
    this.n = 0;
  }

  get count(): Count {
    return this.big === 0n ? this.n : toCount(this.big + BigInt(this.n));
  }
}

/** One batch's changes to the totals, tallied exactly and added to the stored totals at its end. */
export class TotalsChange {
  members = 0;
  purchases = 0;
  returns = 0;
  readonly membersPerTier = new Map<string, number>();
  readonly pointsOutstanding = new Tally();
  readonly walletOutstandingCents = new Tally();
  readonly netSalesCents = new Tally();
  readonly pointsIssued = new Tally();
  readonly pointsRedeemed = new Tally();
  readonly pointsExpired = new Tally();
  readonly pointsClawedBack = new Tally();
  readonly topupsCents = new Tally();
  couponsIssued = 0;
  couponsUsed = 0;
  couponsActive = 0;
  readonly couponDiscountCents = new Tally();

  /** Moves one member from tier `from` (null for a new member) to tier `to`. */
  moveTier(from: string | null, to: string): void {
    if (from === to) return;
    if (from !== null) this.membersPerTier.set(from, (this.membersPerTier.get(from) ?? 0) - 1);
    this.membersPerTier.set(to, (this.membersPerTier.get(to) ?? 0) + 1);
  }

  /**
   * Moves the coupon figures by one coupon event, called with each coupon entry appended.
   * `discountCents`: for a use, what it took off the order; for a restore, what the use it undoes
   * took (the record's discountCents before the restore clears it); 0 for the other kinds.
   */
  countCoupon(kind: CouponEventKind, discountCents: number): void {
    switch (kind) {
      case 'coupon_issue': this.couponsIssued += 1; this.couponsActive += 1; return;
      case 'coupon_use': this.couponsActive -= 1; this.couponsUsed += 1; this.couponDiscountCents.add(discountCents); return;
      case 'coupon_restore': this.couponsUsed -= 1; this.couponsActive += 1; this.couponDiscountCents.add(-discountCents); return;
      case 'coupon_expire':
      case 'coupon_revoke': this.couponsActive -= 1; return;
    }
  }

  /** The stored totals with this batch's changes, as a new record (fields an older record lacks start at 0). */
  appliedTo(stored: BookTotals): BookTotals {
    const out = readTotals(stored);
    out.members += this.members;
    for (const field of COUNT_FIELDS) out[field] += this[field];
    for (const [tier, n] of this.membersPerTier) out.membersPerTier[tier] = (out.membersPerTier[tier] ?? 0) + n;
    for (const field of AMOUNT_FIELDS) out[field] = addCounts(out[field], this[field].count);
    return out;
  }
}

/** The sum of several shards' totals. */
export function sumTotals(parts: BookTotals[]): BookTotals {
  const sum = emptyTotals();
  for (const stored of parts) {
    const p = readTotals(stored);
    sum.members += p.members;
    for (const field of COUNT_FIELDS) sum[field] += p[field];
    for (const field of AMOUNT_FIELDS) sum[field] = addCounts(sum[field], p[field]);
    for (const [tier, n] of Object.entries(p.membersPerTier)) sum.membersPerTier[tier] = (sum.membersPerTier[tier] ?? 0) + n;
  }
  return sum;
}
