// The batches the tests of a replicated shard log commit (replicated-log, follower-gap): each
// touches a new member, its wallet and an earlier member, so that a copy that missed or repeated
// one differs from the owner's in balances, not only in bytes.
import { purchaseOp, registerOp, topupOp } from '../../server/requests.js';
import type { WriteOp } from '../../engine/ops.js';

const admin = (atMs: number) => ({ role: 'admin' as const, nowMs: atMs, defaultCountry: 'HK' });
const at = (ms: number) => ({ at: new Date(ms).toISOString() });

/** Batch `i`, a minute after batch `i - 1` from `t0Ms`: a member registered, topped up and buying, and a purchase of an earlier member. */
export function memberBatchOps(i: number, t0Ms: number): WriteOp[] {
  const t = t0Ms + 60_000 * i;
  const ops: WriteOp[] = [
    registerOp({ memberId: `m${i}`, name: `Member ${i}`, ...at(t) }, admin(t), () => 'x'),
    topupOp({ requestId: `t${i}`, memberId: `m${i}`, amountCents: 10_000 + i, ...at(t) }, admin(t)),
    purchaseOp({ orderId: `o${i}`, memberId: `m${i}`, amountCents: 2_500 + 7 * i, walletCents: 1_000, ...at(t) }, admin(t)),
  ];
  if (i > 0) ops.push(purchaseOp({ orderId: `o${i}-again`, memberId: `m${i - 1}`, amountCents: 990 + i, ...at(t) }, admin(t)));
  return ops;
}
