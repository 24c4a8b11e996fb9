// The outbox credit op family: a message another shard (or this one) wrote in its own batch — a
// referral reward, its reversal, or a transfer's arrival — applied on its target member once,
// keyed by the message id.
import type { CreditOp, OpResult } from '../ops.js';
import { entry, type BatchMember, type BatchScope } from './batch-scope.js';

export function finishCredit(b: BatchScope, op: CreditOp, m: BatchMember): OpResult {
  const { ctx, totals } = b;
  const r = m.running;
  // A reversal takes back at most what the member holds unless the program allows negative points.
  const points = op.points < 0 && !ctx.program.allowNegativePoints ? -Math.min(-op.points, Math.max(0, r.points)) : op.points;
  const creditSeq = b.append(m, entry(op.atMs, op.kind, op.memberId, op.ref, { pointsDelta: points, walletDeltaCents: op.walletCents }));
  if (points > 0) b.addPoints(m, points, op.atMs, creditSeq); else b.takePoints(m, -points);
  r.walletCents += op.walletCents;
  if (points > 0) totals.pointsIssued += points; else totals.pointsClawedBack -= points;
  if (op.level > 0) {
    const key = `${op.memberId}|${op.level}`;
    b.store.refstats.putSync(key, (b.store.refstats.get(key) ?? 0) + points);
  }
  b.toSlot(m);
  return { ok: true, memberId: op.memberId, kind: op.kind, points, walletCents: op.walletCents, replayed: false };
}
