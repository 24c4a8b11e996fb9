// The return op family (docs/rules.md §4): finds the order on this shard and reverses, in the batch's
// transaction, everything the returned value caused: points, redeemed points back to their grants,
// wallet, growth, spend, the tier, and the referral rewards (as outbox reversals).
import type { OpResult, ReturnOp } from '../ops.js';
import { planReturn, remainingConsumption, tierAfterReturn } from '../rules/returns.js';
import { restoreGrants } from '../rules/grants.js';
import { applyCancel, isPending, planCancel } from '../rules/pending.js';
import { fits } from '../rules/safe-range.js';
import { entry, fail, type BatchMember, type BatchScope } from './batch-scope.js';
import { getOrder, putOrder } from './store.js';
import { unwindCoupons } from './batch-coupons.js';

export function finishReturn(b: BatchScope, op: ReturnOp, m: BatchMember): OpResult {
  const { ctx, totals } = b;
  if (!Number.isSafeInteger(op.amountCents) || op.amountCents < 0) return fail('invalid_request', undefined, 'amountCents');
  const order = getOrder(b.store, op.orderId);
  if (order === undefined || order.memberId !== op.memberId) return fail('order_not_found', undefined, 'orderId');
  const remaining = order.netCents - order.returns.reduce((sum, x) => sum + x.amountCents, 0);
  if (op.amountCents > remaining) return fail('return_exceeds_order', `at most ${remaining} cents of this order remain to return`, 'amountCents');
  // A return of 0 is only the whole return of an order with no net value (paid wholly with points).
  if (op.amountCents === 0 && (order.netCents !== 0 || order.returns.length > 0)) {
    return fail('invalid_request', 'amountCents: must be at least 1, unless the order had no net value and is returned whole', 'amountCents');
  }
  const plan = planReturn(order, op.amountCents);
  const r = m.running;
  // Inside the return window the order's points and growth are still pending: the return cancels
  // them there first, and only what is left (nothing, for a purchase's own points) comes from the balances.
  const stillPending = order.pendingUntil !== undefined && isPending(m.state.pending, order.orderId);
  const cancel = stillPending ? planCancel(m.state.pending, order.orderId, plan.clawbackDuePoints, -plan.growthDelta) : { points: 0, growth: 0 };
  const clawbackDue = plan.clawbackDuePoints - cancel.points;
  const growthDelta = plan.growthDelta + cancel.growth;
  // Restored points come back first; the clawback may then go below zero only if the program allows it.
  const afterRestore = r.points + plan.restoredPoints;
  const clawed = ctx.program.allowNegativePoints ? clawbackDue : Math.min(clawbackDue, Math.max(0, afterRestore));
  const pointsDelta = plan.restoredPoints - clawed;
  // Restored points and the wallet refund are credits without the core: each balance, step by
  // step as it is written, must stay a safe integer, or nothing of the return is written.
  if (!fits(afterRestore) || !fits(afterRestore - clawed) || !fits(r.walletCents + plan.walletRefundCents) || !fits(r.growth + growthDelta)) {
    return fail('balance_limit', 'the return would take a balance past 2^53 - 1', 'amountCents');
  }
  const tierBefore = r.tierId;
  const moved = tierAfterReturn(ctx, order, r, plan, op.amountCents, stillPending);
  const seq = b.append(m, entry(op.atMs, 'return', op.memberId, op.returnId, {
    pointsDelta, growthDelta, walletDeltaCents: plan.walletRefundCents, spendDeltaCents: -op.amountCents,
  }, order.seq));
  if (cancel.points > 0 || cancel.growth > 0) {
    applyCancel(m.state.pending, order.orderId, cancel);
    b.append(m, entry(op.atMs, 'points_cancel', op.memberId, op.returnId, { pendingDelta: -cancel.points }, seq));
    totals.pointsPending.add(-cancel.points);
    totals.pointsPendingCancelled.add(cancel.points);
  }
  // Restored points go back to the grants they were redeemed from; the clawback takes oldest first.
  const restoreBefore = r.points;
  order.restoredTo = [...(order.restoredTo ?? []), ...restoreGrants(m.state.grants, remainingConsumption(order), plan.restoredPoints, restoreBefore)];
  r.points += plan.restoredPoints;
  b.takePoints(m, clawed);
  r.growth += growthDelta;
  r.walletCents += plan.walletRefundCents;
  r.lifetimeSpendCents -= op.amountCents;
  Object.assign(r, moved);
  if (plan.full) m.state.standingOrders -= 1;
  const downgradedTo = moved.tierId !== tierBefore ? moved.tierId : null;
  if (downgradedTo !== null) b.append(m, entry(op.atMs, 'downgrade', op.memberId, op.returnId, { tierId: downgradedTo }, seq));
  b.toSlot(m);
  for (const rev of plan.reversals) {
    const level = m.state.referralChain.indexOf(rev.memberId) + 1;
    // The order names which of the ancestor's pending rewards to cancel first (batch-credits.ts).
    b.send({ kind: 'referral_reversal', memberId: rev.memberId, fromMemberId: op.memberId, level, points: -rev.points, walletCents: 0, ref: op.returnId, atMs: op.atMs, orderId: order.orderId });
  }
  // A full return gives back the coupons the order used and takes back those its rules issued (batch-coupons.ts).
  const coupons = plan.full && order.coupons !== undefined
    ? unwindCoupons(b, m, order.coupons.used, order.coupons.issued, order.orderId, op.atMs, seq) : null;
  order.returns.push({ returnId: op.returnId, amountCents: op.amountCents, at: op.atMs });
  // `rewards` stays what the purchase paid: its replay answers them (what remains is in `now`).
  order.now = plan.now;
  putOrder(b.store, order);
  totals.returns += 1;
  totals.netSalesCents.add(-op.amountCents);
  totals.pointsClawedBack.add(clawed);
  totals.pointsRedeemed.add(-plan.restoredPoints);
  return {
    ok: true, returnId: op.returnId, orderId: op.orderId, memberId: op.memberId, clawedBackPoints: clawed,
    restoredPoints: plan.restoredPoints, walletRefundCents: plan.walletRefundCents, points: r.points,
    walletBalanceCents: r.walletCents, tierId: r.tierId, downgradedTo,
    referralReversals: plan.reversals.map((x) => ({ memberId: x.memberId, points: x.points })),
    ...(coupons === null ? {} : { couponsRestored: coupons.restored, couponsRevoked: coupons.revoked }),
    // An order whose points were pending says what the return cancelled of them (0 once they activated).
    ...(order.pendingUntil === undefined ? {} : { cancelledPendingPoints: cancel.points }),
    replayed: false,
  };
}
