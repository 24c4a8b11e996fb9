// Idempotency keys as a batch sees them: the answer stored under an op's key (a purchase's is its
// order record; an imported member's is the fingerprint in its profile) and the code of a conflict.
import type { ErrorCode } from '../errors.js';
import type { WriteOp } from '../ops.js';
import { purchaseResponse } from '../rules/member-state.js';
import { getOrder, type ShardStore, type StoredKey } from './store.js';

/** The key of a registration that names its memberId (server/requests.ts registerOp). */
export const MEMBER_KEY_PREFIX = 'reg:m:';

/** A registration under a taken memberId is `member_exists`, the clearer word for the same conflict. */
export function conflictCode(op: WriteOp): ErrorCode {
  return op.op === 'register' && op.key.startsWith(MEMBER_KEY_PREFIX) ? 'member_exists' : 'idempotency_conflict';
}

/** The stored answer under an op's key: a purchase's is its order record. */
export function storedKey(store: ShardStore, op: WriteOp): StoredKey | undefined {
  if (op.op === 'register' && op.key.startsWith(MEMBER_KEY_PREFIX)) {
    const stored = store.keys.get(op.key);
    if (stored !== undefined) return stored;
    // An imported member keeps its registration's fingerprint in its profile (batch-import.ts).
    const profile = store.members.get(op.memberId);
    return profile?.fp === undefined ? undefined : { fp: profile.fp, res: { memberId: profile.memberId, phone: profile.phone ?? null, email: profile.email ?? null } };
  }
  if (op.op !== 'purchase') return 'key' in op ? store.keys.get(op.key) : undefined;
  const order = getOrder(store, op.orderId);
  return order === undefined ? undefined : { fp: order.fp, res: purchaseResponse(order) };
}
