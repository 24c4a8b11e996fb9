// The arithmetic of a return (docs/rules.md §4) and of referral rewards (docs/rules.md §9.3): pure
// functions of the order record, the member's state and the program, in integer arithmetic.
// Every figure is recomputed from what remains of the order, so partial returns sum exactly to
// a full one.
import type { Program } from './program-types.js';
import type { Consumption } from './grants.js';
import type { MemberState, OrderRecord } from './member-state.js';
import type { ProgramContext } from './member-state.js';

const DAY_MS = 86_400_000;

/** floor(x * num / den) for non-negative integers, exact past 2^53 intermediate products. */
export function mulDiv(x: number, num: number, den: number): number {
  const p = x * num;
  if (Number.isSafeInteger(p)) return Math.floor(p / den);
  return Number((BigInt(x) * BigInt(num)) / BigInt(den));
}

/** The campaigns' bonus and item points of an order: fixed per order, like `orderPoints` (docs/rules.md §13.4). */
export function campaignFixedPoints(order: OrderRecord): number {
  if (order.campaigns === undefined) return 0;
  let sum = 0;
  for (const a of order.campaigns.applied) sum += a.bonusPoints + a.itemPoints;
  return sum;
}

/**
 * Points the order earns on `net` cents at its original rates (docs/rules.md §4.2, §13.4): the
 * regular points multiplied by the order's M; fixed points (`orderPoints` before the multiplier,
 * the campaigns' bonus and item points after it) only while `withFixed`.
 */
export function earnedOn(order: OrderRecord, net: number, withFixed: boolean): number {
  const r = order.rate;
  if (net === 0 && !withFixed) return 0;
  const base = mulDiv(net, r.earnPoints, r.earnCents) + (withFixed ? r.orderPoints : 0);
  return mulDiv(base, r.multiplierPct, 100) + (withFixed ? campaignFixedPoints(order) : 0);
}

export function growthOn(order: OrderRecord, earned: number): number {
  return mulDiv(earned, order.rate.growthGrowth, order.rate.growthPoints);
}

export interface Reward { memberId: string; fixedPoints: number; sharePct: number; sharePoints: number }

/** The rewards a purchase pays up the member's referral chain (docs/rules.md §9.3). */
export function purchaseRewards(program: Program, chain: string[], first: boolean, earned: number): Reward[] {
  if (!program.referral.enabled) return [];
  const out: Reward[] = [];
  chain.forEach((memberId, i) => {
    const level = program.referral.levels[i];
    if (level === undefined) return;
    const fixedPoints = first ? level.firstPurchasePoints : level.repeatPurchasePoints;
    const sharePoints = mulDiv(earned, level.purchaseSharePct, 100);
    if (fixedPoints + sharePoints > 0) out.push({ memberId, fixedPoints, sharePct: level.purchaseSharePct, sharePoints });
  });
  return out;
}

export interface ReturnPlan {
  full: boolean;
  /** Points taken back from this return's share of earnings (before any clamp at zero). */
  clawbackDuePoints: number;
  restoredPoints: number;
  walletRefundCents: number;
  growthDelta: number;
  /** What the order's `now` becomes. */
  now: OrderRecord['now'];
  /** Points taken back from each ancestor (positive numbers). */
  reversals: Array<{ memberId: string; points: number }>;
}

/** Everything a return of `amountCents` (≤ what remains of the order) reverses. */
export function planReturn(order: OrderRecord, amountCents: number): ReturnPlan {
  const returnedBefore = order.returns.reduce((s, r) => s + r.amountCents, 0);
  const returnedAfter = returnedBefore + amountCents;
  const remaining = order.netCents - returnedAfter;
  const full = remaining === 0;
  const earnedAfter = earnedOn(order, remaining, !full);
  const growthAfter = growthOn(order, earnedAfter);
  const restoredAfter = full ? order.redeemPoints : mulDiv(order.redeemPoints, returnedAfter, order.netCents);
  const walletRefundCents = Math.min(amountCents, order.walletCents - order.now.walletRefundedCents);
  const reversals: ReturnPlan['reversals'] = [];
  for (const r of order.rewards) {
    // Each ancestor holds the share of what the order earns now: the share of its remaining value.
    const shareAfter = mulDiv(earnedAfter, r.sharePct, 100);
    const fixedBack = full && !order.now.fixedReversed ? r.fixedPoints : 0;
    const points = (mulDiv(order.now.earnedPoints, r.sharePct, 100) - shareAfter) + fixedBack;
    if (points > 0) reversals.push({ memberId: r.memberId, points });
  }
  return {
    full,
    clawbackDuePoints: order.now.earnedPoints - earnedAfter,
    restoredPoints: restoredAfter - order.now.restoredPoints,
    walletRefundCents,
    growthDelta: growthAfter - order.now.growth,
    now: {
      earnedPoints: earnedAfter, growth: growthAfter, restoredPoints: restoredAfter,
      walletRefundedCents: order.now.walletRefundedCents + walletRefundCents,
      fixedReversed: order.now.fixedReversed || full,
    },
    reversals,
  };
}

/** The highest tier whose threshold the metric meets. */
export function qualifyingTier(ctx: ProgramContext, metric: number): number {
  const tiers = ctx.program.tiers;
  let t = 0;
  for (let i = 1; i < tiers.length; i++) if (tiers[i]!.threshold <= metric) t = i;
  return t;
}

/**
 * The member's period and tier after a return (docs/rules.md §4): the period metric drops by the
 * returned value when the order fell in the current period; the tier is the higher of the
 * period-start tier and what the metric qualifies for, except that an express upgrade whose order
 * fell below the express threshold is undone, restoring the period it replaced.
 */
export function tierAfterReturn(
  ctx: ProgramContext, order: OrderRecord, state: MemberState, plan: ReturnPlan, amountCents: number,
  stillPending = false,
): Pick<MemberState, 'tierId' | 'periodStart' | 'periodEnd' | 'periodStartTierId' | 'periodMetric'> {
  const p = ctx.program;
  const tierIndex = (id: string) => ctx.tierIndex.get(id) ?? 0;
  // Growth that was pending counted towards the tier when it activated (docs/rules.md §13.5), and
  // growth a return cancels while it is still pending (`stillPending`) never counted.
  const growthCountedAt = p.qualifyBy === 'growth' && order.pendingUntil !== undefined ? order.pendingUntil : order.at;
  const inPeriod = growthCountedAt >= state.periodStart;
  const drop = p.qualifyBy === 'spend' ? amountCents : stillPending ? 0 : -plan.growthDelta;
  let metric = inPeriod ? Math.max(0, state.periodMetric - drop) : state.periodMetric;
  const period = { periodStart: state.periodStart, periodEnd: state.periodEnd, periodStartTierId: state.periodStartTierId };
  const floorTier = tierIndex(state.periodStartTierId);
  const upgraded = order.upgradedTo;
  const remaining = order.netCents - order.returns.reduce((s, r) => s + r.amountCents, 0) - amountCents;
  if (order.express && upgraded !== null && state.periodStart === order.at && state.periodStartTierId === upgraded) {
    const express = p.tiers[tierIndex(upgraded)]?.expressUpgradeCents ?? null;
    if (express === null || remaining < express) {
      // Undo the express upgrade: the member is where the order's remaining part would have put
      // them, from the period the upgrade replaced.
      const growthCounted = stillPending ? 0 : plan.now.growth;
      metric = order.before.periodMetric + (p.qualifyBy === 'spend' ? remaining : growthCounted);
      const before = tierIndex(order.before.periodStartTierId);
      const q = qualifyingTier(ctx, metric);
      if (q <= before) {
        // Through the current program: a tier it dropped since the order is its first tier, which never ends.
        const tierBefore = tierIndex(order.tierIdBefore);
        return {
          tierId: p.tiers[tierBefore]!.id, periodMetric: metric, periodStart: order.before.periodStart,
          periodEnd: tierBefore === 0 ? null : order.before.periodEnd, periodStartTierId: p.tiers[before]!.id,
        };
      }
      // The remaining part still crosses a threshold: that upgrade, as a purchase would have made it.
      const carried = p.carryForward === 'all' ? metric : p.carryForward === 'none' ? 0 : Math.max(0, metric - p.tiers[q]!.threshold);
      const periodEnd = p.membershipDays === null ? null : order.at + p.membershipDays * DAY_MS;
      return { tierId: p.tiers[q]!.id, periodMetric: carried, periodStart: order.at, periodEnd, periodStartTierId: p.tiers[q]!.id };
    }
  }
  const tier = Math.max(floorTier, Math.min(qualifyingTier(ctx, metric), tierIndex(state.tierId)));
  return { tierId: p.tiers[tier]!.id, periodMetric: metric, ...period };
}

/** The part of an order's redemption that returns have not yet put back, grant by grant. */
export function remainingConsumption(order: OrderRecord): Consumption {
  const back = new Map<number, number>();
  for (const [id, , points] of order.restoredTo ?? []) back.set(id, (back.get(id) ?? 0) + points);
  const out: Consumption = [];
  for (const [id, expiresAt, points] of order.redeemedFrom) {
    const left = points - (back.get(id) ?? 0);
    if (left > 0) out.push([id, expiresAt, left]);
    back.set(id, Math.max(0, (back.get(id) ?? 0) - points));
  }
  return out;
}
