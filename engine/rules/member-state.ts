// A member's stored parts and an order's stored record, and the conversion between a member's
// state and the fixed-size slot the core computes on.
import type { Program } from './program-types.js';
import { SYSTEM_KEY_ID, type CreditOp, type Profile } from '../ops.js';
import { expiring, type Consumption, type Grant } from './grants.js';
import { mulDiv } from './returns.js';
import { withProgramDefaults } from './program.js';
import { activations, pendingTotal, type PendingPoints } from './pending.js';

export interface MemberState {
  tierId: string;
  periodStart: number; // ms since epoch
  periodEnd: number | null;
  periodMetric: number;
  periodStartTierId: string;
  points: number;
  growth: number;
  walletCents: number;
  lifetimeSpendCents: number;
  purchaseCount: number;
  firstPurchaseAt: number | null;
  lastPurchaseAt: number | null;
}

/** The cold part of a member: written on registration and profile changes only. */
/** The member state a batch needs, stored apart from the profile so purchases never decode it. */
export interface HotState extends MemberState {
  lastSeq: number;
  /** Purchases not fully returned: zero means the next purchase is a first purchase (docs/rules.md §9.3). */
  standingOrders: number;
  /** Birthday month 1-12 and day 1-31, 0 when unknown: the profile fields a batch reads. */
  birthdayMonth: number;
  birthdayDay: number;
  /** The calendar year whose birthday gift was last settled (paid or skipped), 0 for none. */
  lastBirthdayYear: number;
  /** The member's next time-driven event (period end, grant expiry, birthday), -1 for none: the sweep's index key. */
  nextDue: number;
  referralChain: string[];
  /** Points grants, ordered by expiry (engine/rules/grants.ts); empty while points never expire. */
  grants: Grant[];
  /** Points waiting for their return window to pass, ordered by activation (engine/rules/pending.ts). */
  pending: PendingPoints[];
  /** When the member's personal data was erased (docs/rules.md §15); absent for every member not erased. */
  erasedAt?: number;
  /**
   * Ids of the grants still held whose `points_expiring` notice is written (docs/rules.md §6), in
   * the order written: a grant gets one notice, however often the member is brought up to date.
   */
  expiryNotices: number[];
}

export interface MemberProfile extends Profile {
  memberId: string;
  referrerId: string | null;
  referralChain: string[];
  createdAt: number;
  /** The fingerprint of the imported row that registered the member (engine/shard/batch.ts importBatch). */
  fp?: number;
  /** When the member's personal data was erased; absent for every member not erased. */
  erasedAt?: number;
  /**
   * The key of a registration made by requestId (`reg:<requestId>`), so that an erasure finds its
   * stored answer; absent when the key is `reg:m:<memberId>` and on members registered before.
   */
  regKey?: string;
  /**
   * The batch-log sequences whose entries carry this member's personal data (its registration or
   * imported row, patches of personal fields), for the erasure's redaction (engine/shard/log-redaction.ts).
   */
  logSeqs?: number[];
}

/** A whole member: the profile and the hot state (engine/shard/codec.ts) that every batch reads. */
export type MemberRecord = MemberProfile & HotState;

export interface OrderRecord {
  orderId: string; memberId: string; at: number; seq: number;
  amountCents: number; discountCents: number; redeemPoints: number; redeemValueCents: number;
  walletCents: number; netCents: number; earnedPoints: number; growth: number;
  tierIdBefore: string; upgradedTo: string | null; birthday: boolean;
  storeId?: string; channel?: string; items?: Array<{ sku: string; qty: number; amountCents: number }>;
  /** The staff member who made the sale (docs/rules.md §14.4): the staff report counts the order for them. */
  staffId?: string;
  returns: Array<{ returnId: string; amountCents: number; at: number }>;
  /** The purchase's idempotency record: the body's fingerprint and the balances it answered. */
  fp: number;
  after: { points: number; walletBalanceCents: number; growth: number; tierId: string };
  /** The rates the purchase earned at, so that returns recompute with exactly them (docs/rules.md §4). */
  rate: { earnCents: number; earnPoints: number; orderPoints: number; multiplierPct: number; growthPoints: number; growthGrowth: number };
  /** Whether the upgrade came from the express threshold, and the period it replaced. */
  express: boolean;
  before: { periodStart: number; periodEnd: number | null; periodStartTierId: string; periodMetric: number };
  /**
   * Referral rewards paid for this order: fixed (first/repeat) and share, per ancestor, as the
   * purchase answered them; returns leave them as they are (what remains follows from `now`).
   */
  rewards: Array<{ memberId: string; fixedPoints: number; sharePct: number; sharePoints: number }>;
  /** What remains after the returns so far. */
  now: { earnedPoints: number; growth: number; restoredPoints: number; walletRefundedCents: number; fixedReversed: boolean };
  /** The grants the redeemed points came from, and what returns have put back into them. */
  redeemedFrom: Consumption;
  restoredTo?: Consumption;
  /**
   * When the order's earned points (and growth, and the referral rewards it caused) become
   * spendable, present when they were pending at the purchase (docs/rules.md §13.5).
   */
  pendingUntil?: number;
  /**
   * The order's coupons (docs/rules.md §12), present when it used any or the program had coupon
   * rules: what they took off, which were used, which its rules issued and which they could not.
   */
  coupons?: OrderCoupons;
  /**
   * The campaigns that applied (docs/rules.md §13.4), present when the program had campaigns at
   * the purchase: what each added, so that returns, replays and the campaign report need no program.
   * The multiplier M itself is `rate.multiplierPct`.
   */
  campaigns?: OrderCampaigns;
}

export interface OrderCoupons {
  discountCents: number;
  used: Array<{ code: string; templateId: string; discountCents: number }>;
  /** Issued by one of the purchase's coupon rules (`ruleId`) or by a campaign that applied (`campaignId`). */
  issued: Array<{ code: string; templateId: string; ruleId?: string; campaignId?: string; validFrom: string; expiresAt: string }>;
  skipped: Array<{ ruleId?: string; campaignId?: string; templateId: string; reason: string }>;
}

/** The campaigns of one order (docs/rules.md §13.2, §13.4). */
export interface OrderCampaigns {
  /** B: the birthday month's multiplier at the purchase, 100 outside it; what a campaign's multiplier added is measured from it. */
  baseMultiplierPct: number;
  /** The applying campaigns in program order. */
  applied: OrderCampaign[];
}

/** One campaign that applied to an order and the points it added, each part apart. */
export interface OrderCampaign {
  campaignId: string;
  /** The campaign's own multiplier; the first applied campaign whose multiplier is the order's M, above B and 100, added by it. */
  multiplierPct: number;
  bonusPoints: number;
  itemPoints: number;
  /** floor(regular × M ÷ 100) − floor(regular × B ÷ 100) for the campaign whose multiplier is M, else 0. */
  multiplierPoints: number;
}

/** A credit or debit another shard must apply exactly once: written in the source's transaction. */
export interface OutboxMessage {
  /** `<sourceShard>:<outSeq>`: the target's idempotency key. */
  id: string;
  kind: 'referral_reward' | 'referral_reversal' | 'transfer_in' | 'transfer_return';
  memberId: string;
  /** The member whose registration, purchase, return or transfer caused it, and the referral level (0: none). */
  fromMemberId: string;
  level: number;
  points: number;
  walletCents: number;
  ref: string;
  atMs: number;
  /** A referral purchase reward that waits until then, like the purchase's own points (docs/rules.md §13.5). */
  pendingUntilMs?: number;
  /** A reversal's order: what of its rewards is still pending is cancelled first. */
  orderId?: string;
}

/** The key prefix of a credit op: `msg:<message id>`, so each message applies once. */
export const CREDIT_KEY_PREFIX = 'msg:';

/** The op that applies an outbox message on its target (the engine's delivery and the what-if's alike). */
export function creditOp(msg: OutboxMessage): CreditOp {
  const op: CreditOp = {
    op: 'credit', memberId: msg.memberId, kind: msg.kind, points: msg.points, walletCents: msg.walletCents,
    ref: msg.ref, key: CREDIT_KEY_PREFIX + msg.id, fp: 0, atMs: msg.atMs, fromMemberId: msg.fromMemberId, level: msg.level,
    // A delivery is the engine's own doing, whoever sent the op that wrote the message.
    by: SYSTEM_KEY_ID,
  };
  if (msg.pendingUntilMs !== undefined) op.pendingUntilMs = msg.pendingUntilMs;
  if (msg.orderId !== undefined) op.orderId = msg.orderId;
  return op;
}

/**
 * The purchase response (docs/rules.md §3), rebuilt from its order record for replays: exactly the
 * first answer, whatever returns came since. Each share is recomputed from the points the purchase
 * earned (as it was paid) rather than read from `rewards`, where records written before returns
 * left it alone hold what remained after their returns.
 */
export function purchaseResponse(o: OrderRecord): Record<string, unknown> {
  const { ok: _ok, replayed: _replayed, ...response } = purchaseResult(o, false);
  return response;
}

/**
 * The purchase response as a batch's result: `ok` first and `replayed` last around the response's
 * fields, built as one literal (a spread of the response into the result cost more per purchase
 * than encoding its order record).
 */
export function purchaseResult(o: OrderRecord, replayed: boolean): { ok: true } & Record<string, unknown> {
  const result: { ok: true } & Record<string, unknown> = {
    ok: true,
    orderId: o.orderId, memberId: o.memberId, netCents: o.netCents, earnedPoints: o.earnedPoints,
    redeemedPoints: o.redeemPoints, redeemValueCents: o.redeemValueCents, walletCents: o.walletCents,
    points: o.after.points, walletBalanceCents: o.after.walletBalanceCents, growth: o.after.growth,
    tierId: o.after.tierId, upgradedTo: o.upgradedTo,
    referralRewards: o.rewards.map((r) => ({ memberId: r.memberId, points: r.fixedPoints + mulDiv(o.earnedPoints, r.sharePct, 100) })),
    replayed,
  };
  if (o.coupons !== undefined) {
    result['couponDiscountCents'] = o.coupons.discountCents;
    result['couponsUsed'] = o.coupons.used;
    result['couponsIssued'] = o.coupons.issued;
    result['couponsSkipped'] = o.coupons.skipped;
  }
  if (o.campaigns !== undefined) result['campaigns'] = campaignsAnswer(o.campaigns);
  // The earned points (and the referral rewards) wait until then (docs/rules.md §13.5).
  if (o.pendingUntil !== undefined) result['pointsPendingUntil'] = new Date(o.pendingUntil).toISOString();
  return result;
}

/** The answers' list of an order's campaigns: each one's id and the points it added (docs/rules.md §13.4). */
export function campaignsAnswer(c: OrderCampaigns): Array<{ id: string; points: number }> {
  return c.applied.map((a) => ({ id: a.campaignId, points: a.bonusPoints + a.itemPoints + a.multiplierPoints }));
}

/** The program as a shard uses it: the document, its version and the tier id ↔ index maps. */
export interface ProgramContext {
  version: number;
  program: Program;
  tierIndex: Map<string, number>;
}

/** A program as a shard may have stored it before later fields existed reads with those fields' defaults. */
export function programContext(version: number, stored: Program): ProgramContext {
  const program = withProgramDefaults(stored);
  return { version, program, tierIndex: new Map(program.tiers.map((t, i) => [t.id, i])) };
}

/** A tier the program no longer has falls back to the first tier (see README, "Program changes"). */
export function tierIndexOf(ctx: ProgramContext, tierId: string): number {
  return ctx.tierIndex.get(tierId) ?? 0;
}

export function memberView(p: MemberProfile, m: MemberState, grants: Grant[], pending: readonly PendingPoints[]): Record<string, unknown> {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    memberId: p.memberId, name: p.name ?? null, phone: p.phone ?? null, email: p.email ?? null,
    birthday: p.birthday ?? null, gender: p.gender ?? null, address: p.address ?? null,
    storeId: p.storeId ?? null, channel: p.channel ?? null, staffId: p.staffId ?? null,
    tierId: m.tierId, periodStart: iso(m.periodStart), periodEnd: iso(m.periodEnd),
    periodMetric: m.periodMetric, points: m.points, growth: m.growth, walletCents: m.walletCents,
    lifetimeSpendCents: m.lifetimeSpendCents, purchaseCount: m.purchaseCount,
    firstPurchaseAt: iso(m.firstPurchaseAt), lastPurchaseAt: iso(m.lastPurchaseAt),
    referrerId: p.referrerId, referralChain: p.referralChain, createdAt: iso(p.createdAt),
    pointsExpiring: expiring(grants, 5).map((e) => ({ at: new Date(e.at).toISOString(), points: e.points })),
    pendingPoints: pendingTotal(pending),
    pointsActivating: activations(pending, 5).map((e) => ({ at: new Date(e.at).toISOString(), points: e.points })),
    // Only an erased member has these: every other member's view is as it was before erasure existed.
    ...(p.erasedAt === undefined ? {} : { erased: true, erasedAt: new Date(p.erasedAt).toISOString() }),
  };
}
