// A purchase's replay answers exactly its first answer, also after returns of the order reversed part
// of its referral share rewards. Before, the replay was rebuilt from the order record, whose share
// rewards each return overwrote with what remained: the replay answered `referralRewards [{a, 5}]`
// where the purchase had answered `[{a, 10}]`. The record now keeps the rewards as paid, returns
// work from what the order earns now, and a record written the old way replays right too.
import { afterEach, describe, expect, it } from 'vitest';
import { getOrder } from '../../engine/shard/store.js';
import { ShardHarness } from '../helpers/shard-harness.js';
import { demoProgram } from '../../engine/rules/program.js';
import type { Program } from '../../engine/rules/program-types.js';
import type { OpResult, WriteOp } from '../../engine/ops.js';

const AT = Date.parse('2026-03-10T02:00:00Z');
let h: ShardHarness;
afterEach(async () => { await h.close(); });

/** 1 point per HK$1 at the first tier, and 10% of it (plus 3 fixed points on a first purchase) to the referrer. */
const program: Program = {
  ...demoProgram(),
  tiers: demoProgram().tiers.map((t, i) => (i === 0 ? { ...t, earn: { cents: 100, points: 1 } } : t)),
  referral: { enabled: true, refereePoints: 0, levels: [{ registerPoints: 0, firstPurchasePoints: 3, repeatPurchasePoints: 0, purchaseSharePct: 10 }] },
};

const purchase: WriteOp = { op: 'purchase', memberId: 'b', orderId: 'o1', key: 'o1', fp: 2, atMs: AT + 1_000, amountCents: 10_000, discountCents: 0, redeemPoints: 0, walletCents: 0 };
const returnOf = (returnId: string, amountCents: number): WriteOp =>
  ({ op: 'return', memberId: 'b', orderId: 'o1', returnId, amountCents, key: `ret:${returnId}`, fp: 4, atMs: AT + 2_000 });
const replayOf = (first: OpResult) => ({ ...first, replayed: true });

function setUp(): OpResult {
  h = new ShardHarness(program, 1);
  h.one({ op: 'register', memberId: 'a', key: 'reg:m:a', fp: 1, atMs: AT, referralChain: [] });
  h.one({ op: 'register', memberId: 'b', key: 'reg:m:b', fp: 1, atMs: AT, referralChain: ['a'], referrerId: 'a' });
  const first = h.one({ ...purchase });
  expect(first).toMatchObject({ ok: true, earnedPoints: 100, referralRewards: [{ memberId: 'a', points: 13 }] });
  h.deliver();
  return first;
}

describe('a purchase replayed after a return', () => {
  it('answers its first answer, alone and inside a batch, after each return', () => {
    const first = setUp();
    expect(h.one(returnOf('r1', 5_000))).toMatchObject({ ok: true, clawedBackPoints: 50, referralReversals: [{ memberId: 'a', points: 5 }] });
    h.deliver();
    expect(h.one({ ...purchase })).toEqual(replayOf(first));
    expect(h.batch([{ ...purchase }, returnOf('r2', 2_000)])).toEqual([replayOf(first), expect.objectContaining({ ok: true, referralReversals: [{ memberId: 'a', points: 2 }] })]);
    h.deliver();
    // The last 3,000 cents: the remaining share of 3 and the fixed 3 points come back.
    expect(h.one(returnOf('r3', 3_000))).toMatchObject({ ok: true, referralReversals: [{ memberId: 'a', points: 6 }] });
    h.deliver();
    expect(h.one({ ...purchase })).toEqual(replayOf(first));
    expect(h.state('a')!.points).toBe(0);
    expect(getOrder(h.shardOf('b').store, 'o1')!.rewards).toEqual([{ memberId: 'a', fixedPoints: 3, sharePct: 10, sharePoints: 10 }]);
    expect(h.mismatches()).toEqual([]);
  });

  it('replays right, and returns right, from a record whose rewards an earlier return overwrote', () => {
    const first = setUp();
    expect(h.one(returnOf('r1', 5_000))).toMatchObject({ ok: true, referralReversals: [{ memberId: 'a', points: 5 }] });
    h.deliver();
    // What a return wrote before this fix: the share that remained, in place of the share paid (and
    // as a msgpack record, the form orders had then).
    const store = h.shardOf('b').store;
    const written = getOrder(store, 'o1')!;
    store.root.transactionSync(() => store.legacyOrders.putSync('o1', { ...written, rewards: [{ ...written.rewards[0]!, sharePoints: 5 }] }));
    expect(h.one({ ...purchase })).toEqual(replayOf(first));
    expect(h.one(returnOf('r2', 5_000))).toMatchObject({ ok: true, referralReversals: [{ memberId: 'a', points: 8 }] });
    h.deliver();
    expect(h.state('a')!.points).toBe(0);
    expect(h.mismatches()).toEqual([]);
  });
});
