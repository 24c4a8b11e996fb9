// Claims on idempotency keys for ops of members on other shards (engine/router/key-claims.ts): every
// key has a home shard, and an op whose member lives elsewhere first claims its key there, so a key
// is unique in the whole deployment. A claim is held when this shard holds the key for nobody, a
// replay when it is held for the same member and body, and otherwise a conflict; a release drops a
// claim held for its body (the op it was taken for was refused).
import { CLAIM_CONFLICT, CLAIM_HELD, CLAIM_REPLAYED, CLAIM_KEY_PREFIX, type ClaimOp, type OpResult } from '../ops.js';
import { hasOrder, type ShardStore } from './store.js';

/** A purchase's key, `order:` + orderId: its record is the order itself (server/requests.ts purchaseOp). */
const ORDER_KEY_PREFIX = 'order:';

/** Claims (or releases) every key of the op, in order; the batch's own keys count as held. */
export function claimKeys(store: ShardStore, op: ClaimOp, batchKeys: Map<string, { fp: number; index: number }>, index: number): OpResult {
  const keys = store.keys;
  const outcomes: number[] = new Array(op.keys.length);
  for (let j = 0; j < op.keys.length; j++) {
    const key = op.keys[j]!;
    const fp = op.fps[j]!;
    if (op.release) {
      if (keys.get(key)?.fp === fp) keys.removeSync(key);
      batchKeys.delete(key);
      outcomes[j] = CLAIM_HELD;
      continue;
    }
    const earlier = batchKeys.get(key);
    if (earlier !== undefined) { outcomes[j] = earlier.fp === fp ? CLAIM_REPLAYED : CLAIM_CONFLICT; continue; }
    const held = keys.get(key);
    if (held !== undefined) { outcomes[j] = held.fp === fp ? CLAIM_REPLAYED : CLAIM_CONFLICT; continue; }
    // The key used by an op of this shard's own members (not a claim) is taken too.
    const claimed = key.slice(CLAIM_KEY_PREFIX.length);
    const ownUse = batchKeys.has(claimed)
      || (claimed.startsWith(ORDER_KEY_PREFIX) ? hasOrder(store, claimed.slice(ORDER_KEY_PREFIX.length)) : keys.getBinaryFast(claimed) !== undefined);
    if (ownUse) { outcomes[j] = CLAIM_CONFLICT; continue; }
    batchKeys.set(key, { fp, index });
    keys.putSync(key, { fp, res: { memberId: op.memberIds[j]! } });
    outcomes[j] = CLAIM_HELD;
  }
  return { ok: true, outcomes };
}

/** The first key after every claim's: CLAIM_KEY_PREFIX with its last char moved one on (claims are ASCII-ordered keys). */
const CLAIMS_END = CLAIM_KEY_PREFIX.slice(0, -1) + String.fromCharCode(CLAIM_KEY_PREFIX.charCodeAt(CLAIM_KEY_PREFIX.length - 1) + 1);

/**
 * Whether the shard stores any claim: one range read. A shard that is its deployment's only one
 * never holds any, and then each of its purchases needs no read for claimedElsewhere.
 */
export function storesClaims(store: ShardStore): boolean {
  for (const _ of store.keys.getKeys({ start: CLAIM_KEY_PREFIX, end: CLAIMS_END, limit: 1 })) return true;
  return false;
}

/**
 * Whether an op of this shard's member must be refused: another shard's member claimed its key
 * here. `claimsStored` is storesClaims, asked since the batch's last claim op (each stored claim
 * was then either there or is in batchKeys).
 */
export function claimedElsewhere(store: ShardStore, key: string, batchKeys: Map<string, { fp: number; index: number }>, claimsStored: boolean): boolean {
  const claim = CLAIM_KEY_PREFIX + key;
  // Whether a claim is stored, not what it holds: its bytes are not decoded.
  return batchKeys.has(claim) || (claimsStored && store.keys.getBinaryFast(claim) !== undefined);
}
