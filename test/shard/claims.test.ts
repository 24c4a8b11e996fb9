// A key claimed on its home shard for another shard's member refuses this shard's own op under
// that key, whether the claim was stored by an earlier batch or taken earlier in the same one, and
// also after a release whose body differs (which keeps the stored claim). A shard that stores no
// claim at all (a deployment's only shard) answers its purchases without reading for claims.
import { afterEach, describe, expect, it } from 'vitest';
import { ShardHarness } from '../helpers/shard-harness.js';
import { demoProgram } from '../../engine/rules/program.js';
import { storesClaims } from '../../engine/shard/batch-claims.js';
import { CLAIM_CONFLICT, CLAIM_HELD, type ClaimOp, type OpResult, type PurchaseOp, type WriteOp } from '../../engine/ops.js';

const AT = Date.parse('2026-03-10T02:00:00Z');
let h: ShardHarness;
afterEach(async () => { await h?.close(); });

/** A purchase whose key's home is this shard, as the router marks it. */
const purchase = (orderId: string): PurchaseOp =>
  ({ op: 'purchase', orderId, memberId: 'm1', key: `order:${orderId}`, fp: 7, atMs: AT + 1_000, amountCents: 10_000, discountCents: 0, redeemPoints: 0, walletCents: 0, keyHome: true });
const claim = (orderId: string, fp: number, release = false): ClaimOp =>
  ({ op: 'claim', keys: [`c:order:${orderId}`], fps: [fp], memberIds: ['elsewhere'], release, atMs: AT, memberId: '' });
const outcome = (r: OpResult) => (r.ok ? ('outcomes' in r ? `claim:${String(r['outcomes'])}` : 'ok') : r.error.code);

function fresh(): ShardHarness {
  const harness = new ShardHarness(demoProgram(), 1);
  harness.one({ op: 'register', memberId: 'm1', key: 'reg:m:m1', fp: 1, atMs: AT, referralChain: [] });
  return harness;
}

describe('claims on a home shard', () => {
  it('store none until one is held, and then refuse the own purchase under the claimed key in a later batch', () => {
    h = fresh();
    const store = h.shards[0]!.store;
    expect(storesClaims(store)).toBe(false);
    expect(h.batch([purchase('a')]).map(outcome)).toEqual(['ok']);
    expect(h.batch([claim('b', 5)]).map(outcome)).toEqual([`claim:${CLAIM_HELD}`]);
    expect(storesClaims(store)).toBe(true);
    expect(h.batch([purchase('c'), purchase('b')]).map(outcome)).toEqual(['ok', 'idempotency_conflict']);
    // A purchase's own key already used here is a conflict for a claim.
    expect(h.batch([claim('a', 6)]).map(outcome)).toEqual([`claim:${CLAIM_CONFLICT}`]);
  });

  it('refuse the own purchase after a claim taken earlier in the same batch, on a shard that stored none', () => {
    h = fresh();
    const ops: WriteOp[] = [purchase('a'), claim('b', 5), purchase('b'), purchase('c')];
    expect(h.batch(ops).map(outcome)).toEqual(['ok', `claim:${CLAIM_HELD}`, 'idempotency_conflict', 'ok']);
  });

  it('keep refusing after a release whose body differs, which leaves the stored claim', () => {
    h = fresh();
    expect(h.batch([claim('b', 5)]).map(outcome)).toEqual([`claim:${CLAIM_HELD}`]);
    expect(h.batch([purchase('a'), claim('b', 99, true), purchase('b')]).map(outcome)).toEqual(['ok', `claim:${CLAIM_HELD}`, 'idempotency_conflict']);
    // The release of the claim's own body drops it: the purchase goes through.
    expect(h.batch([claim('b', 5, true), purchase('b')]).map(outcome)).toEqual([`claim:${CLAIM_HELD}`, 'ok']);
    expect(h.mismatches()).toEqual([]);
  });

  it('keep refusing after such a release in the batch that took the claim, on a shard that stored none before it', () => {
    h = fresh();
    const ops: WriteOp[] = [purchase('a'), claim('b', 5), claim('b', 99, true), purchase('b')];
    expect(h.batch(ops).map(outcome)).toEqual(['ok', `claim:${CLAIM_HELD}`, `claim:${CLAIM_HELD}`, 'idempotency_conflict']);
  });
});
