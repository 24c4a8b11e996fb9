// The reward op family (docs/rules.md §14.1) inside a batch: a redemption debits points oldest grants
// first and takes stock units the router reserved for it (engine/router/reward-gate.ts), or issues a
// coupon reward's coupons at once; a fulfilment marks goods picked up; a cancellation puts the
// points back into the grants they came from (with their expiry), gives the units back and revokes
// a coupon reward's coupons; a restock adds to (or takes from) a reward's stock. Every change writes
// the redemption's record and a ledger entry (ref = the redemption's id) in the batch's transaction,
// and each shard counts the units its members hold redeemed and the units restocked on it, which
// the router sums at start and each reply adds to (`rewardCounts`).
import { REWARD_QUANTITY_MAX, REWARD_STOCK_MAX } from '../limits.js';
import type { OpResult, RewardCancelOp, RewardFulfilOp, RewardRedeemOp, RewardStockOp } from '../ops.js';
import type { Reward } from '../rules/program-types.js';
import { issueRefusal } from '../rules/coupons.js';
import { restoreGrants } from '../rules/grants.js';
import { rewardRefusal, type RedemptionRecord, type RedemptionState } from '../rules/rewards.js';
import { fits } from '../rules/safe-range.js';
import { CouponSupplyCursor, issueCoupon, issuedView, revocable, revokeCoupon, type IssuedCoupon } from './batch-coupons.js';
import { entry, fail, type BatchMember, type BatchScope } from './batch-scope.js';

/** The meta keys counting a reward's units on this shard: held redeemed (cancellations taken off), and restocked. */
export const REWARD_TAKEN_PREFIX = 'rt:';
export const REWARD_ADDED_PREFIX = 'ra:';

const iso = (ms: number): string => new Date(ms).toISOString();

function rewardOf(b: BatchScope, rewardId: string): Reward | undefined {
  return b.ctx.program.rewards.find((r) => r.id === rewardId);
}

export function getRedemption(b: BatchScope, redemptionId: string): RedemptionRecord | undefined {
  return b.store.redemptions.get(redemptionId);
}

function putRedemption(b: BatchScope, r: RedemptionRecord): void {
  b.store.redemptions.putSync(r.redemptionId, r);
}

/** Moves this shard's counters of a reward by the batch (written once at its end: writeRewardCounters), and its reply's figures. */
function moveStock(b: BatchScope, rewardId: string, takenDelta: number, addedDelta: number): void {
  const moved = b.rewardMoves.get(rewardId);
  if (moved === undefined) b.rewardMoves.set(rewardId, [takenDelta, addedDelta]);
  else { moved[0] += takenDelta; moved[1] += addedDelta; }
}

/**
 * Adds what the batch moved to this shard's counters, in the batch's transaction: once per reward
 * rather than once per op, so that a batch of 500 redemptions of one reward reads and writes its
 * counter once, not 500 times.
 */
export function writeRewardCounters(b: BatchScope): void {
  for (const [rewardId, [taken, added]] of b.rewardMoves) {
    for (const [prefix, delta] of [[REWARD_TAKEN_PREFIX, taken], [REWARD_ADDED_PREFIX, added]] as const) {
      if (delta === 0) continue;
      const key = prefix + rewardId;
      b.store.meta.putSync(key, ((b.store.meta.get(key) as number | undefined) ?? 0) + delta);
    }
  }
}

/** Units of `rewardId` the member holds redeemed: every redemption of it not cancelled. */
function heldByMember(b: BatchScope, memberId: string, rewardId: string): number {
  let units = 0;
  for (const { key, value } of b.store.memberRedemptions.getRange({ start: [memberId, ''], end: [memberId, '\uffff'] })) {
    if (value !== rewardId) continue;
    const r = getRedemption(b, key[1])!;
    if (r.state !== 'cancelled') units += r.quantity;
  }
  return units;
}

/** A redemption as its answers and lookups show it. */
export function redemptionView(r: RedemptionRecord): Record<string, unknown> {
  return {
    redemptionId: r.redemptionId, memberId: r.memberId, rewardId: r.rewardId, kind: r.kind, quantity: r.quantity,
    redeemedPoints: r.points, cashCents: r.cashCents, storeId: r.storeId, staffId: r.staffId, state: r.state,
    redeemedAt: iso(r.redeemedAtMs), history: r.history.map(([state, at]) => ({ state, at: iso(at) })), couponCodes: r.couponCodes,
  };
}

function answer(r: RedemptionRecord, m: BatchMember, extra: Record<string, unknown> = {}): OpResult {
  const run = m.running;
  return { ok: true, ...redemptionView(r), ...extra, points: run.points, walletBalanceCents: run.walletCents, tierId: run.tierId, replayed: false };
}

/**
 * Why a coupon reward cannot issue `quantity` coupons now, or null: the template's own refusal
 * (inactive, its window over, the member's cap), or its totalMax with too few units reserved.
 */
function couponProblem(b: BatchScope, m: BatchMember, reward: Reward, quantity: number, atMs: number, supply: CouponSupplyCursor): OpResult | null {
  const template = b.ctx.program.coupons.find((t) => t.id === reward.couponTemplateId);
  // The validator keeps every coupon reward's template in the program; a stored one may predate that check.
  if (template === undefined) return fail('reward_unavailable', 'coupon_template_removed', 'rewardId');
  let toMember = 0;
  if (template.perMemberMax !== null) {
    for (const { value } of b.store.memberCoupons.getRange({ start: [m.memberId, ''], end: [m.memberId, '\uffff'] })) if (value === template.id) toMember += 1;
  }
  for (let k = 0; k < quantity; k++) {
    const refusal = issueRefusal(template, atMs, b.ctx.program.timezone, { toMember: toMember + k, total: 0 });
    if (refusal !== null) return fail('coupon_limit', refusal, 'rewardId');
  }
  const capped = template.totalMax !== null;
  if (supply.canIssue(b, template.id, capped) < quantity) {
    return capped ? fail('coupon_limit', 'total_limit', 'rewardId') : fail('internal', 'no coupon code was supplied for the redemption');
  }
  return null;
}

/** A redemption (POST /v1/rewards/redemptions, the stream's `reward_redeem`): all of it, or nothing. */
export function finishRewardRedeem(b: BatchScope, op: RewardRedeemOp, m: BatchMember): OpResult {
  const reward = rewardOf(b, op.rewardId);
  if (reward === undefined) return fail('reward_not_found', undefined, 'rewardId');
  if (!Number.isSafeInteger(op.quantity) || op.quantity < 1 || op.quantity > REWARD_QUANTITY_MAX) return fail('invalid_request', undefined, 'quantity');
  const run = m.running;
  const refusal = rewardRefusal(reward, run.tierId, op.atMs, b.ctx.program.timezone);
  if (refusal !== null) return fail('reward_unavailable', refusal, 'rewardId');
  // The id is the request's requestId, whose key the batch checked: one found here is a broken promise of the router's keys.
  if (getRedemption(b, op.redemptionId) !== undefined) return fail('idempotency_conflict', undefined, 'requestId');
  if (reward.perMemberMax !== null && heldByMember(b, op.memberId, reward.id) + op.quantity > reward.perMemberMax) {
    return fail('reward_limit', `at most ${reward.perMemberMax} per member`, 'quantity');
  }
  // With a stock, the units come from the router, which reserved them against the deployment's count.
  if (reward.stock !== null && op.stockAllow !== op.quantity) return fail('out_of_stock', undefined, 'rewardId');
  const points = reward.pointsCost * op.quantity;
  if (run.points < points) return fail('insufficient_points', `${points} points needed`, 'rewardId');
  const supply = CouponSupplyCursor.of(op);
  if (reward.kind === 'coupon') {
    const problem = couponProblem(b, m, reward, op.quantity, op.atMs, supply);
    if (problem !== null) return problem;
  }
  const seq = b.append(m, entry(op.atMs, 'reward_redeem', op.memberId, op.redemptionId, { pointsDelta: -points }));
  const takenFrom = b.takePoints(m, points);
  b.totals.pointsRedeemed.add(points);
  const r: RedemptionRecord = {
    redemptionId: op.redemptionId, memberId: op.memberId, rewardId: reward.id, kind: reward.kind, quantity: op.quantity,
    points, cashCents: reward.cashCents * op.quantity, storeId: op.storeId ?? null, staffId: op.staffId ?? null,
    state: 'reserved', redeemedAtMs: op.atMs, seq, history: [['reserved', op.atMs]], takenFrom, couponCodes: [],
  };
  b.store.memberRedemptions.putSync([op.memberId, op.redemptionId], reward.id);
  moveStock(b, reward.id, op.quantity, 0);
  let coupons: IssuedCoupon[] | undefined;
  if (reward.kind === 'coupon') {
    const template = b.ctx.program.coupons.find((t) => t.id === reward.couponTemplateId)!;
    coupons = [];
    for (let k = 0; k < op.quantity; k++) {
      const made = issueCoupon(b, m, template, op.atMs, supply, `reward:${reward.id}`, null, seq);
      // couponProblem checked every unit just before: a refusal now is a broken invariant.
      if (typeof made === 'string') throw new Error(`coupon ${k + 1} of redemption ${op.redemptionId} refused after its check: ${made}`);
      coupons.push(issuedView(made));
      r.couponCodes.push(made.code);
    }
    // A coupon reward is handed over as it is redeemed.
    changeState(b, m, r, 'fulfilled', op.atMs, 'reward_fulfil');
  }
  putRedemption(b, r);
  b.toSlot(m);
  return answer(r, m, coupons === undefined ? {} : { couponsIssued: coupons });
}

/** Moves the redemption to `state` at `atMs` with its ledger entry (caused by its redeem entry). */
function changeState(b: BatchScope, m: BatchMember, r: RedemptionRecord, state: RedemptionState, atMs: number, kind: 'reward_fulfil' | 'reward_cancel', pointsDelta = 0): number {
  r.state = state;
  r.history.push([state, atMs]);
  return b.append(m, entry(atMs, kind, r.memberId, r.redemptionId, { pointsDelta }, r.seq));
}

/** The member's redemption of that id, or the refusal. */
function redemptionFor(b: BatchScope, op: { memberId: string; redemptionId: string }): RedemptionRecord | OpResult {
  const r = getRedemption(b, op.redemptionId);
  return r === undefined || r.memberId !== op.memberId ? fail('redemption_not_found', undefined, 'redemptionId') : r;
}

/** Goods picked up (POST /v1/rewards/redemptions/{id}/fulfil): only a reserved redemption. */
export function finishRewardFulfil(b: BatchScope, op: RewardFulfilOp, m: BatchMember): OpResult {
  const r = redemptionFor(b, op);
  if ('ok' in r) return r;
  if (r.state !== 'reserved') return fail('redemption_closed', r.state, 'redemptionId');
  changeState(b, m, r, 'fulfilled', op.atMs, 'reward_fulfil');
  putRedemption(b, r);
  return answer(r, m);
}

/**
 * A cancellation (POST /v1/rewards/redemptions/{id}/cancel): a reserved redemption, or a coupon
 * reward's whose coupons are all still active (they are revoked). Fulfilled goods have left the
 * counter and stay redeemed. The points go back to the grants they came from, with their expiry.
 */
export function finishRewardCancel(b: BatchScope, op: RewardCancelOp, m: BatchMember): OpResult {
  const r = redemptionFor(b, op);
  if ('ok' in r) return r;
  if (r.state === 'cancelled' || (r.state === 'fulfilled' && r.kind === 'goods')) return fail('redemption_closed', r.state, 'redemptionId');
  if (!r.couponCodes.every((code) => revocable(b, code))) return fail('redemption_closed', 'coupon_used', 'redemptionId');
  const run = m.running;
  if (!fits(run.points + r.points)) return fail('balance_limit', 'the points would take the balance past 2^53 - 1', 'redemptionId');
  const seq = changeState(b, m, r, 'cancelled', op.atMs, 'reward_cancel', r.points);
  restoreGrants(m.state.grants, r.takenFrom, r.points, run.points);
  run.points += r.points;
  b.totals.pointsRedeemed.add(-r.points);
  moveStock(b, r.rewardId, -r.quantity, 0);
  for (const code of r.couponCodes) revokeCoupon(b, m, code, op.atMs, seq);
  putRedemption(b, r);
  b.toSlot(m);
  return answer(r, m, { restoredPoints: r.points });
}

/**
 * A restock (POST /v1/rewards/{id}/stock): adds `delta` units to the reward's stock, or takes them
 * off when negative, which needs as many units reserved by the router as a redemption would. It
 * belongs to no member: its entry has member '' and `stockDelta`, and the shard's counter moves.
 */
export function finishRestock(b: BatchScope, op: RewardStockOp): OpResult {
  const reward = rewardOf(b, op.rewardId);
  if (reward === undefined) return fail('reward_not_found', undefined, 'rewardId');
  if (!Number.isSafeInteger(op.delta) || op.delta === 0 || Math.abs(op.delta) > REWARD_STOCK_MAX) return fail('invalid_request', undefined, 'delta');
  if (op.delta < 0 && reward.stock !== null && op.stockAllow !== -op.delta) return fail('out_of_stock', 'the stock left is less than the units taken off', 'delta');
  const e = entry(op.atMs, 'reward_stock', '', reward.id, {});
  e.stockDelta = op.delta;
  b.ledger.append(e);
  moveStock(b, reward.id, 0, op.delta);
  return { ok: true, rewardId: reward.id, delta: op.delta, replayed: false };
}
