// The outbox credit op family: a message another shard (or this one) wrote in its own batch — a
// referral reward, its reversal, a transfer's arrival, or a transfer coming back — applied on its
// target member once, keyed by the message id.
import type { CreditOp, OpResult } from '../ops.js';
import { opError } from '../errors.js';
import { fits } from '../rules/safe-range.js';
import { entry, fail, type BatchMember, type BatchScope } from './batch-scope.js';
import { addPending, applyCancel, planCancel } from '../rules/pending.js';

/**
 * A credit cannot be refused the way a request is: its cause is already written on another shard.
 * So when it would take a balance past 2^53 − 1 (README, "Returns, referrals and transfers"):
 * a transfer's money goes back to the sender (a `transfer_return` message, applied like this one);
 * a referral reward is dropped, recorded as an entry of 0 points; a reversal takes at most down to
 * −(2^53 − 1). Only a transfer coming back that its sender cannot take either is refused: it stays
 * in the sender's shard's outbox, and is tried again at every start.
 */
export function finishCredit(b: BatchScope, op: CreditOp, m: BatchMember): OpResult {
  const { ctx, totals } = b;
  const r = m.running;
  if (!fits(r.walletCents + op.walletCents)) {
    if (op.kind !== 'transfer_in') return fail('balance_limit', 'the wallet cannot take this credit', 'walletCents');
    // Written with this message's key, so that a repeat of it replays this answer and sends nothing.
    b.send({ kind: 'transfer_return', memberId: op.fromMemberId, fromMemberId: op.memberId, level: 0, points: 0, walletCents: op.walletCents, ref: op.ref, atMs: op.atMs });
    return {
      ok: true, memberId: op.memberId, kind: op.kind, points: 0, walletCents: 0,
      refused: opError('balance_limit', 'the wallet cannot take this transfer: it goes back to the sender', 'walletCents'),
      returnedTo: op.fromMemberId, replayed: false,
    };
  }
  // A referral purchase reward caused by a purchase inside its return window waits as the purchase's points do.
  if (op.kind === 'referral_reward' && op.pendingUntilMs !== undefined && op.points > 0) return pendingReward(b, op, m, op.pendingUntilMs);
  // A reversal cancels what of the order's reward is still pending first, then takes from the balance.
  const cancel = op.kind === 'referral_reversal' && op.orderId !== undefined && op.points < 0
    ? planCancel(m.state.pending, op.orderId, -op.points, 0) : null;
  const due = cancel === null ? op.points : op.points + cancel.points;
  // A reversal takes back at most what the member holds unless the program allows negative points.
  let points = due < 0 && !ctx.program.allowNegativePoints ? -Math.min(-due, Math.max(0, r.points)) : due;
  let dropped = 0;
  if (!fits(r.points + points)) {
    if (points > 0) { dropped = points; points = 0; } else points = -Number.MAX_SAFE_INTEGER - r.points;
  }
  const creditSeq = b.append(m, entry(op.atMs, op.kind, op.memberId, op.ref, { pointsDelta: points, walletDeltaCents: op.walletCents }));
  if (cancel !== null && cancel.points > 0) {
    applyCancel(m.state.pending, op.orderId!, cancel);
    b.append(m, entry(op.atMs, 'points_cancel', op.memberId, op.ref, { pendingDelta: -cancel.points }, creditSeq));
    totals.pointsPending.add(-cancel.points);
    totals.pointsPendingCancelled.add(cancel.points);
  }
  if (points > 0) b.addPoints(m, points, op.atMs, creditSeq); else b.takePoints(m, -points);
  r.walletCents += op.walletCents;
  if (points > 0) totals.pointsIssued.add(points); else totals.pointsClawedBack.add(-points);
  if (op.level > 0) countReferralPoints(b, op, points - (cancel?.points ?? 0));
  b.toSlot(m);
  const result: OpResult = { ok: true, memberId: op.memberId, kind: op.kind, points, walletCents: op.walletCents, replayed: false };
  if (dropped > 0) result['droppedPoints'] = dropped;
  if (cancel !== null) result['cancelledPendingPoints'] = cancel.points;
  return result;
}

/** The referral report's points per member and level: rewards paid (pending ones included) less reversals. */
function countReferralPoints(b: BatchScope, op: CreditOp, points: number): void {
  const key = `${op.memberId}|${op.level}`;
  b.store.refstats.putSync(key, (b.store.refstats.get(key) ?? 0) + points);
}

/** A referral purchase reward that waits until `untilMs` (docs/rules.md §13.5): an entry of pending points only. */
function pendingReward(b: BatchScope, op: CreditOp, m: BatchMember, untilMs: number): OpResult {
  const seq = b.append(m, entry(op.atMs, op.kind, op.memberId, op.ref, { pendingDelta: op.points }));
  addPending(m.state.pending, { id: seq, activatesAt: untilMs, points: op.points, growth: 0, orderId: op.ref });
  b.totals.pointsPending.add(op.points);
  countReferralPoints(b, op, op.points);
  return { ok: true, memberId: op.memberId, kind: op.kind, points: 0, pendingPoints: op.points, pointsPendingUntil: new Date(untilMs).toISOString(), walletCents: 0, replayed: false };
}
