// The arithmetic op family, run through the WASM core once per run of consecutive such ops:
// purchase, redeem, adjust, top-up, withdrawal, a transfer's debit and the checkout quote. Phase 1
// fills each op's record (queueCoreOp); after the core's call, phase 3 turns each result into
// entries, an order, grants, outbox messages and the answer (finishCore).
import assert from 'node:assert/strict';
import * as L from '../core/layout.js';
import type { ErrorCode } from '../errors.js';
import { AMOUNT_CENTS_MAX, POINTS_OP_MAX } from '../limits.js';
import { inBirthdayMonth } from '../rules/calendar.js';
import { baseMultiplierPct, type CampaignOutcome } from '../rules/campaigns.js';
import { purchaseResult, tierIndexOf, type MemberState, type OrderRecord, type OutboxMessage, type ProgramContext } from '../rules/member-state.js';
import { addPending } from '../rules/pending.js';
import type { OpResult, WriteOp } from '../ops.js';
import { purchaseRewards } from '../rules/returns.js';
import { DAY_MS, entry, fail, type BatchMember, type BatchScope } from './batch-scope.js';
import { putOrder } from './store.js';
import type { Channel } from '../rules/program-types.js';
import { CouponSupplyCursor, issueByCampaigns, issueByRules, quoteCoupons, releaseCoupons, useCoupons } from './batch-coupons.js';
import { orderCampaigns, quoteCampaigns } from './batch-campaigns.js';

/** Core status codes in the order of core-layout.ts, as catalogue codes. */
const STATUS_CODES: Record<number, ErrorCode> = {
  [L.S_INSUFFICIENT_POINTS]: 'insufficient_points',
  [L.S_INSUFFICIENT_WALLET]: 'insufficient_wallet',
  [L.S_WALLET_LIMIT]: 'wallet_limit',
  [L.S_NEGATIVE_NET]: 'negative_net',
  [L.S_TOPUP_BELOW_MINIMUM]: 'topup_below_minimum',
  [L.S_BALANCE_LIMIT]: 'balance_limit',
  [L.S_REDEMPTION_TOO_SMALL]: 'redemption_too_small',
};

/** A transfer's debit is the core's withdrawal: the same check, the same arithmetic. */
const CORE_KINDS: Record<string, number> = {
  purchase: L.OP_PURCHASE, redeem: L.OP_REDEEM, adjust: L.OP_ADJUST, topup: L.OP_TOPUP,
  withdraw: L.OP_WITHDRAW, transfer: L.OP_WITHDRAW, quote: L.OP_QUOTE,
};

const isIn = (n: number, min: number, max: number): boolean => Number.isSafeInteger(n) && n >= min && n <= max;

/**
 * The ranges the core asserts (assembly/index.ts), checked before the op reaches it: the front end
 * validates them already, and a value past them must fail this op alone, never the core's call
 * and with it every op of the batch.
 */
export function coreOpProblem(op: WriteOp): OpResult | null {
  switch (op.op) {
    case 'purchase':
      if (!isIn(op.amountCents, 1, AMOUNT_CENTS_MAX)) return fail('invalid_request', undefined, 'amountCents');
      if (!isIn(op.discountCents, 0, AMOUNT_CENTS_MAX)) return fail('invalid_request', undefined, 'discountCents');
      if (!isIn(op.redeemPoints, 0, POINTS_OP_MAX)) return fail('invalid_request', undefined, 'redeemPoints');
      if (!isIn(op.walletCents, 0, AMOUNT_CENTS_MAX)) return fail('invalid_request', undefined, 'walletCents');
      return null;
    case 'quote':
      return isIn(op.amountCents, 0, AMOUNT_CENTS_MAX) ? null : fail('invalid_request', undefined, 'amountCents');
    case 'topup': case 'withdraw': case 'transfer':
      return isIn(op.amountCents, 1, AMOUNT_CENTS_MAX) ? null : fail('invalid_request', undefined, 'amountCents');
    case 'redeem':
      return isIn(op.points, 1, POINTS_OP_MAX) ? null : fail('invalid_request', undefined, 'points');
    case 'adjust':
      return op.points !== 0 && isIn(op.points, -POINTS_OP_MAX, POINTS_OP_MAX) ? null : fail('invalid_request', undefined, 'points');
    default:
      return null;
  }
}

/**
 * Fills op record `k` of the core's next call with `op` on member `m`: a purchase or quote with the
 * multiplier M and extra points of its `campaigns` (batch-campaigns.ts), or without any campaign the
 * birthday month's multiplier and none.
 */
export function queueCoreOp(b: BatchScope, op: WriteOp, m: BatchMember, k: number, couponCents = 0, campaigns: CampaignOutcome | null = null): void {
  const o = k * L.O_SLOTS;
  const rec = b.core.ops;
  rec.fill(0, o, o + L.O_SLOTS);
  rec[o + L.O_KIND] = op.op === 'purchase' ? L.OP_PURCHASE : CORE_KINDS[op.op]!;
  rec[o + L.O_SLOT] = m.slot;
  rec[o + L.O_AT_MS] = op.atMs;
  switch (op.op) {
    case 'purchase':
      // The coupons' discount is part of the order's discount for the core: points are earned on
      // what is left (docs/rules.md §12); holdCoupons kept the sum within amountCents − discountCents.
      rec[o + L.O_A] = op.amountCents; rec[o + L.O_B] = op.discountCents + couponCents;
      rec[o + L.O_C] = op.redeemPoints; rec[o + L.O_D] = op.walletCents;
      multiplyBy(b, op.atMs, m, campaigns, rec, o);
      break;
    case 'quote':
      rec[o + L.O_A] = op.amountCents;
      multiplyBy(b, op.atMs, m, campaigns, rec, o);
      break;
    case 'redeem': case 'adjust': rec[o + L.O_A] = op.points; break;
    case 'topup': case 'withdraw': case 'transfer': rec[o + L.O_A] = op.amountCents; break;
  }
}

/** M and the extra points of docs/rules.md §13.2: the campaigns' when resolved, else the birthday month's multiplier and none. */
function multiplyBy(b: BatchScope, atMs: number, m: BatchMember, campaigns: CampaignOutcome | null, rec: Float64Array, o: number): void {
  if (campaigns !== null) {
    rec[o + L.O_MULTIPLIER_PCT] = campaigns.multiplierPct;
    rec[o + L.O_EXTRA_POINTS] = campaigns.extraPoints;
  } else {
    rec[o + L.O_MULTIPLIER_PCT] = baseMultiplierPct(b.ctx.program, inBirthdayMonth(m.state.birthdayMonth, atMs, b.ctx.program.timezone));
    rec[o + L.O_EXTRA_POINTS] = 0;
  }
}

/** Turns the core's result `k` for `op` into entries, records and the op's answer. */
export function finishCore(b: BatchScope, op: WriteOp, k: number, m: BatchMember): OpResult {
  const { ctx, totals } = b;
  const res = b.core.results;
  const o = k * L.R_SLOTS;
  const status = res[o + L.R_STATUS]!;
  const couponUse = op.op === 'purchase' && op.couponCodes !== undefined ? b.couponUses.get(op) : undefined;
  if (couponUse !== undefined) b.couponUses.delete(op);
  const campaigns = b.campaignOutcomes.size === 0 ? undefined : b.campaignOutcomes.get(op);
  if (campaigns !== undefined) b.campaignOutcomes.delete(op);
  if (status !== L.S_OK) {
    if (couponUse !== undefined) releaseCoupons(b, couponUse);
    const code = STATUS_CODES[status];
    assert.ok(code !== undefined, `unknown core status ${status}`);
    return fail(code);
  }
  const r = m.running;
  const pointsDelta = res[o + L.R_POINTS_DELTA]!;
  const walletDeltaCents = res[o + L.R_WALLET_DELTA_CENTS]!;
  const growthDelta = res[o + L.R_GROWTH_DELTA]!;
  const spendDeltaCents = res[o + L.R_SPEND_DELTA_CENTS]!;
  switch (op.op) {
    case 'quote': {
      const tier = ctx.program.tiers[tierIndexOf(ctx, r.tierId)]!;
      const answer: OpResult = {
        ok: true, memberId: op.memberId, tierId: r.tierId, discountBps: tier.discountBps,
        discountCents: res[o + L.R_NET_CENTS]!, points: r.points,
        maxRedeemPoints: res[o + L.R_BONUS_POINTS]!, maxRedeemValueCents: res[o + L.R_VALUE_CENTS]!,
        walletBalanceCents: r.walletCents, pointsToEarn: res[o + L.R_EARNED_POINTS]!,
      };
      if (ctx.program.campaigns.length > 0) answer['campaigns'] = quoteCampaigns(campaigns);
      if (ctx.program.coupons.length === 0 && op.couponCodes === undefined) return answer;
      // Coupons are valued on the amount after the tier's discount, as the checkout would send it.
      const listed = quoteCoupons(b, m, op.amountCents - res[o + L.R_NET_CENTS]!, op.atMs, op.couponCodes ?? []);
      if (listed.problem !== null) return listed.problem;
      answer['coupons'] = listed.coupons;
      answer['couponDiscountCents'] = listed.couponDiscountCents;
      return answer;
    }
    case 'purchase': {
      const tierIdBefore = r.tierId;
      const before = { periodStart: r.periodStart, periodEnd: r.periodEnd, periodStartTierId: r.periodStartTierId, periodMetric: r.periodMetric };
      const earned = res[o + L.R_EARNED_POINTS]!;
      // With a return window the earned points and their growth wait (the core left them out of the balances).
      const pendingDays = ctx.program.pointsPendingDays;
      const pendingUntil = pendingDays > 0 ? op.atMs + pendingDays * DAY_MS : null;
      const seq = b.append(m, entry(op.atMs, 'purchase', op.memberId, op.orderId,
        { pointsDelta, walletDeltaCents, growthDelta, spendDeltaCents, pendingDelta: pendingUntil === null ? 0 : earned }));
      const couponsUsed = couponUse === undefined ? null : useCoupons(b, m, couponUse, op.orderId, op.atMs, seq);
      const redeemedFrom = b.takePoints(m, op.redeemPoints);
      const orderGrowth = pendingUntil === null ? growthDelta : res[o + L.R_PENDING_GROWTH]!;
      if (pendingUntil === null) b.addPoints(m, earned, op.atMs, seq);
      else if (earned > 0 || orderGrowth > 0) {
        addPending(m.state.pending, { id: seq, activatesAt: pendingUntil, points: earned, growth: orderGrowth, orderId: op.orderId });
        totals.pointsPending.add(earned);
      }
      r.walletCents += walletDeltaCents; r.growth += growthDelta;
      r.lifetimeSpendCents += spendDeltaCents; r.purchaseCount += 1;
      r.firstPurchaseAt ??= op.atMs;
      r.lastPurchaseAt = r.lastPurchaseAt === null ? op.atMs : Math.max(r.lastPurchaseAt, op.atMs);
      const newTier = res[o + L.R_NEW_TIER]!;
      let upgradedTo: string | null = null;
      if (newTier !== L.NONE) {
        upgradedTo = ctx.program.tiers[newTier]!.id;
        const bonus = res[o + L.R_BONUS_POINTS]!;
        const upgradeSeq = b.append(m, entry(op.atMs, 'upgrade', op.memberId, op.orderId, { pointsDelta: bonus, tierId: upgradedTo }, seq));
        b.addPoints(m, bonus, op.atMs, upgradeSeq);
        totals.pointsIssued.add(bonus);
      }
      totals.purchases += 1;
      totals.netSalesCents.add(spendDeltaCents);
      // Pending points count as issued when they activate (batch-sweep.ts).
      if (pendingUntil === null) totals.pointsIssued.add(earned);
      totals.pointsRedeemed.add(op.redeemPoints);
      // The period fields are not ledger balances: they follow from the op and the program.
      r.periodMetric = metricAfter(b, r.periodMetric, k);
      if (upgradedTo !== null) {
        const days = ctx.program.membershipDays;
        r.tierId = upgradedTo; r.periodStart = op.atMs; r.periodStartTierId = upgradedTo;
        r.periodEnd = days === null ? null : op.atMs + days * DAY_MS;
      }
      const redeemValueCents = res[o + L.R_VALUE_CENTS]!;
      const rewards = purchaseRewards(ctx.program, m.state.referralChain, m.state.standingOrders === 0, earned);
      m.state.standingOrders += 1;
      for (const rw of rewards) {
        const level = m.state.referralChain.indexOf(rw.memberId) + 1;
        const reward: Omit<OutboxMessage, 'id'> = { kind: 'referral_reward', memberId: rw.memberId, fromMemberId: op.memberId, level, points: rw.fixedPoints + rw.sharePoints, walletCents: 0, ref: op.orderId, atMs: op.atMs };
        // The ancestors' rewards wait with the purchase's own points.
        if (pendingUntil !== null) reward.pendingUntilMs = pendingUntil;
        b.send(reward);
      }
      const tierBefore = ctx.program.tiers[tierIndexOf(ctx, tierIdBefore)]!;
      // Nothing between the op's queueing and now changes the member's birthday: the same month as then.
      const birthday = inBirthdayMonth(m.state.birthdayMonth, op.atMs, ctx.program.timezone);
      const order: OrderRecord = {
        orderId: op.orderId, memberId: op.memberId, at: op.atMs, seq, amountCents: op.amountCents,
        discountCents: op.discountCents, redeemPoints: op.redeemPoints, redeemValueCents,
        walletCents: op.walletCents, netCents: spendDeltaCents, earnedPoints: res[o + L.R_EARNED_POINTS]!,
        growth: orderGrowth, tierIdBefore, upgradedTo, birthday,
        returns: [], fp: op.fp,
        after: { points: r.points, walletBalanceCents: r.walletCents, growth: r.growth, tierId: r.tierId },
        rate: {
          earnCents: tierBefore.earn.cents, earnPoints: tierBefore.earn.points, orderPoints: ctx.program.orderPoints,
          multiplierPct: b.core.ops[k * L.O_SLOTS + L.O_MULTIPLIER_PCT]!,
          growthPoints: ctx.program.growth.points, growthGrowth: ctx.program.growth.growth,
        },
        express: upgradedTo !== null && ctx.program.tiers[tierIndexOf(ctx, upgradedTo)]!.threshold > before.periodMetric + (ctx.program.qualifyBy === 'spend' ? spendDeltaCents : growthDelta),
        before,
        rewards,
        now: { earnedPoints: earned, growth: orderGrowth, restoredPoints: 0, walletRefundedCents: 0, fixedReversed: false },
        redeemedFrom,
      };
      if (op.storeId !== undefined) order.storeId = op.storeId;
      if (op.channel !== undefined) order.channel = op.channel;
      if (op.items !== undefined) order.items = op.items;
      if (ctx.program.couponRules.length > 0 || couponsUsed !== null || b.campaignsIssueCoupons) {
        // Rules see the member after the purchase: its tier, and the net the purchase earned on.
        const channel = (op.channel ?? null) as Channel | null;
        const supply = CouponSupplyCursor.of(op);
        const byPurchase = issueByRules(b, m, 'purchase', channel, spendDeltaCents, op.atMs, supply, op.orderId, seq);
        const byUpgrade = upgradedTo === null ? null : issueByRules(b, m, 'upgrade', channel, 0, op.atMs, supply, op.orderId, seq);
        // The campaigns' coupons come after the rules' (docs/rules.md §13.4), with the same supply.
        const byCampaigns = campaigns === undefined || campaigns.coupons.length === 0 ? null
          : issueByCampaigns(b, m, campaigns.coupons, op.atMs, supply, op.orderId, seq);
        const alone = byUpgrade === null && byCampaigns === null;
        order.coupons = {
          discountCents: couponUse?.totalCents ?? 0,
          used: couponsUsed ?? [],
          issued: alone ? byPurchase.issued : [...byPurchase.issued, ...(byUpgrade?.issued ?? []), ...(byCampaigns?.issued ?? [])],
          skipped: alone ? byPurchase.skipped : [...byPurchase.skipped, ...(byUpgrade?.skipped ?? []), ...(byCampaigns?.skipped ?? [])],
        };
      }
      // Kept whenever the program has campaigns, so that its answers always list them (an empty list included).
      if (ctx.program.campaigns.length > 0) order.campaigns = orderCampaigns(b, campaigns, birthday);
      if (pendingUntil !== null) order.pendingUntil = pendingUntil;
      if (op.staffId !== undefined) order.staffId = op.staffId;
      putOrder(b.store, order);
      const answer = purchaseResult(order, false);
      // The common answer's shape (engine/batch-records.ts PlainPurchaseAnswer), which the results' packing writes field by field.
      if (order.coupons === undefined && order.campaigns === undefined && order.pendingUntil === undefined) b.plainAnswer = answer;
      return answer;
    }
    case 'redeem': {
      totals.pointsRedeemed.add(op.points);
      b.append(m, entry(op.atMs, 'redeem', op.memberId, op.key, { pointsDelta, walletDeltaCents }));
      b.takePoints(m, op.points);
      r.walletCents += walletDeltaCents;
      return { ok: true, memberId: op.memberId, redeemedPoints: op.points, walletCreditCents: walletDeltaCents, ...balancesOf(r), replayed: false };
    }
    case 'adjust': {
      // Negative adjustments count as points taken back, like clawbacks (README, Reports).
      if (pointsDelta > 0) totals.pointsIssued.add(pointsDelta); else totals.pointsClawedBack.add(-pointsDelta);
      const adjustEntry = entry(op.atMs, 'adjust', op.memberId, op.key, { pointsDelta });
      // The reason stays with the entry, for the ledger, the export and the audit (docs/rules.md §8.1).
      adjustEntry.reason = op.reason;
      const adjustSeq = b.append(m, adjustEntry);
      if (pointsDelta > 0) b.addPoints(m, pointsDelta, op.atMs, adjustSeq); else b.takePoints(m, -pointsDelta);
      return { ok: true, memberId: op.memberId, pointsDelta, reason: op.reason, ...balancesOf(r), replayed: false };
    }
    case 'topup': {
      totals.topupsCents.add(walletDeltaCents);
      b.append(m, entry(op.atMs, 'topup', op.memberId, op.key, { walletDeltaCents }));
      r.walletCents += walletDeltaCents;
      return { ok: true, memberId: op.memberId, amountCents: op.amountCents, bonusCents: res[o + L.R_VALUE_CENTS]!, ...balancesOf(r), replayed: false };
    }
    case 'transfer': {
      b.append(m, entry(op.atMs, 'transfer_out', op.memberId, op.key, { walletDeltaCents }));
      r.walletCents += walletDeltaCents;
      b.send({ kind: 'transfer_in', memberId: op.toMemberId, fromMemberId: op.memberId, level: 0, points: 0, walletCents: op.amountCents, ref: op.key, atMs: op.atMs });
      return { ok: true, fromMemberId: op.memberId, toMemberId: op.toMemberId, amountCents: op.amountCents, ...balancesOf(r), replayed: false };
    }
    case 'withdraw': {
      b.append(m, entry(op.atMs, 'withdraw', op.memberId, op.key, { walletDeltaCents }));
      r.walletCents += walletDeltaCents;
      return { ok: true, memberId: op.memberId, amountCents: op.amountCents, ...balancesOf(r), replayed: false };
    }
    default:
      assert.fail(`op ${op.op} is not a core op`);
  }
}

/** A member's balances as the non-purchase answers end with them. */
function balancesOf(r: MemberState): { points: number; walletBalanceCents: number; tierId: string } {
  return { points: r.points, walletBalanceCents: r.walletCents, tierId: r.tierId };
}

/** The period metric after purchase k, from the metric before it (docs/rules.md §3.2). */
function metricAfter(b: BatchScope, metricBefore: number, k: number): number {
  const res = b.core.results;
  const o = k * L.R_SLOTS;
  const p: ProgramContext['program'] = b.ctx.program;
  const metric = metricBefore + (p.qualifyBy === 'spend' ? res[o + L.R_SPEND_DELTA_CENTS]! : res[o + L.R_GROWTH_DELTA]!);
  const newTier = res[o + L.R_NEW_TIER]!;
  if (newTier === L.NONE || p.carryForward === 'all') return metric;
  if (p.carryForward === 'none') return 0;
  return Math.max(0, metric - p.tiers[newTier]!.threshold);
}
