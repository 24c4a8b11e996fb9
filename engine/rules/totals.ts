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
  /** Coupon events (docs/rules.md §12); totals stored before coupons read them as 0. */
  couponsIssued: number;
  couponsUsed: number;
  couponsRestored: number;
  couponsExpired: number;
  couponsRevoked: number;
  /** What coupons took off orders, less what full returns gave back. */
  couponDiscountCents: Count;
  /** Points waiting for their return window (docs/rules.md §13.5): not in `pointsOutstanding` until activated. */
  pointsPending: Count;
  /** Pending points that returns (and referral reversals) cancelled before they activated. */
  pointsPendingCancelled: Count;
}

/** The counts of BookTotals that are plain numbers added per batch (besides members, purchases and returns). */
export const COUPON_COUNT_FIELDS = ['couponsIssued', 'couponsUsed', 'couponsRestored', 'couponsExpired', 'couponsRevoked'] as const;

/** The amounts of BookTotals: every field that is a Count. */
export const AMOUNT_FIELDS = [
  'pointsOutstanding', 'walletOutstandingCents', 'netSalesCents', 'pointsIssued', 'pointsRedeemed',
  'pointsExpired', 'pointsClawedBack', 'topupsCents', 'couponDiscountCents', 'pointsPending', 'pointsPendingCancelled',
] as const;

export function emptyTotals(): BookTotals {
  return {
    members: 0, membersPerTier: {}, pointsOutstanding: 0, walletOutstandingCents: 0, purchases: 0,
    returns: 0, netSalesCents: 0, pointsIssued: 0, pointsRedeemed: 0, pointsExpired: 0,
    pointsClawedBack: 0, topupsCents: 0, couponsIssued: 0, couponsUsed: 0, couponsRestored: 0,
    couponsExpired: 0, couponsRevoked: 0, couponDiscountCents: 0, pointsPending: 0, pointsPendingCancelled: 0,
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

/**
 * Coupons in state `active` by the totals: each issue and restore makes one, each use, expiry and
 * revocation ends one (only an active coupon is used, expired or revoked).
 */
export function couponsActive(t: Pick<BookTotals, 'couponsIssued' | 'couponsUsed' | 'couponsRestored' | 'couponsExpired' | 'couponsRevoked'>): number {
  return t.couponsIssued - t.couponsUsed + t.couponsRestored - t.couponsExpired - t.couponsRevoked;
}

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
  couponsRestored = 0;
  couponsExpired = 0;
  couponsRevoked = 0;
  readonly couponDiscountCents = new Tally();
  readonly pointsPending = new Tally();
  readonly pointsPendingCancelled = new Tally();

  /** Moves one member from tier `from` (null for a new member) to tier `to`. */
  moveTier(from: string | null, to: string): void {
    if (from === to) return;
    if (from !== null) this.membersPerTier.set(from, (this.membersPerTier.get(from) ?? 0) - 1);
    this.membersPerTier.set(to, (this.membersPerTier.get(to) ?? 0) + 1);
  }

  /** The stored totals with this batch's changes, as a new record. */
  appliedTo(stored: BookTotals): BookTotals {
    const out: BookTotals = { ...stored, membersPerTier: { ...stored.membersPerTier } };
    out.members += this.members;
    out.purchases += this.purchases;
    out.returns += this.returns;
    for (const [tier, n] of this.membersPerTier) out.membersPerTier[tier] = (out.membersPerTier[tier] ?? 0) + n;
    // Totals stored before a field existed lack it: it counts from 0.
    for (const field of AMOUNT_FIELDS) out[field] = addCounts(stored[field] ?? 0, this[field].count);
    for (const field of COUPON_COUNT_FIELDS) out[field] = (stored[field] ?? 0) + this[field];
    return out;
  }
}

/** The sum of several shards' totals. */
export function sumTotals(parts: BookTotals[]): BookTotals {
  const sum = emptyTotals();
  for (const p of parts) {
    sum.members += p.members;
    sum.purchases += p.purchases;
    sum.returns += p.returns;
    for (const field of AMOUNT_FIELDS) sum[field] = addCounts(sum[field], p[field] ?? 0);
    for (const field of COUPON_COUNT_FIELDS) sum[field] += p[field] ?? 0;
    for (const [tier, n] of Object.entries(p.membersPerTier)) sum.membersPerTier[tier] = (sum.membersPerTier[tier] ?? 0) + n;
  }
  return sum;
}
