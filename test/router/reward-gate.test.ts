// Unit tests of the router's reward stock counter (engine/router/reward-gate.ts), without shards:
// units go out while the stock has them, counted from the shards' counters at start and each
// reply; an op whose units ops in flight hold waits instead of being refused, with its member's
// later ops; one the committed stock cannot cover goes without; failed batches give units back;
// unlimited rewards and other ops are left alone; a coupon reward's codes and template units.
import { describe, expect, it } from 'vitest';
import { RewardGate } from '../../engine/router/reward-gate.js';
import { CouponGate } from '../../engine/router/coupon-gate.js';
import { demoProgram } from '../../engine/rules/program.js';
import type { Program, Reward } from '../../engine/rules/program-types.js';
import type { PurchaseOp, RewardRedeemOp, RewardStockOp, WriteOp } from '../../engine/ops.js';

const reward = (id: string, stock: number | null, more: Partial<Reward> = {}): Reward => ({
  id, name: id, active: true, pointsCost: 10, cashCents: 0, kind: 'goods', couponTemplateId: null, eligibleTiers: null,
  stock, perMemberMax: null, from: null, to: null, ...more,
});
const program = (rewards: Reward[]): Program => ({ ...demoProgram(), rewards });
const redeem = (memberId: string, rewardId: string, quantity = 1): RewardRedeemOp => ({
  op: 'reward_redeem', memberId, rewardId, quantity, redemptionId: 'r-' + memberId, key: 'req:r-' + memberId, fp: 0, atMs: 0,
});
const purchase = (memberId: string): PurchaseOp => ({
  op: 'purchase', memberId, orderId: 'o-' + memberId, key: 'order:o-' + memberId, fp: 0, atMs: 0, amountCents: 100, discountCents: 0, redeemPoints: 0, walletCents: 0,
});
const none = new Set<string>();

describe('the reward gate', () => {
  it('gives units while the stock has them, counting the shards at start and each answer', () => {
    const p = program([reward('mug', 10)]);
    const gate = new RewardGate(() => p, [{ mug: { taken: 3, added: 0 } }, { mug: { taken: 4, added: 2 } }]);
    expect(gate.stockOf(p.rewards[0]!)).toEqual({ stockLeft: 5, held: 0, redeemed: 7, restocked: 2 });
    const ops: WriteOp[] = [redeem('a', 'mug', 2), redeem('b', 'mug', 3), redeem('c', 'mug', 1)];
    const first = gate.admit(ops, none)!;
    expect(ops.map((o) => (o as RewardRedeemOp).stockAllow)).toEqual([2, 3, undefined]);
    // c waits: the five units are held, not yet taken; a refusal now could be wrong.
    expect(first.wait).toEqual([false, false, true]);
    expect(gate.stockOf(p.rewards[0]!).held).toBe(5);
    // a's redemption committed, b's was refused (its member had too few points): 3 units come back.
    gate.settle(first.held, { mug: [2, 0] });
    expect(gate.stockOf(p.rewards[0]!)).toEqual({ stockLeft: 3, held: 0, redeemed: 9, restocked: 2 });
    const again: WriteOp[] = [redeem('c', 'mug', 1), redeem('d', 'mug', 4)];
    const second = gate.admit(again, none)!;
    expect(again.map((o) => (o as RewardRedeemOp).stockAllow)).toEqual([1, undefined]);
    // d's four units exceed what is left even if c gives its unit back: refused, not waiting.
    expect(second.wait).toBeNull();
  });

  it('keeps a waiting member\'s later ops back with it, and leaves other members alone', () => {
    const p = program([reward('mug', 1)]);
    const gate = new RewardGate(() => p, []);
    const held = gate.admit([redeem('a', 'mug')], none)!;
    const ops: WriteOp[] = [redeem('b', 'mug'), purchase('b'), purchase('c'), redeem('b', 'pen')];
    const admission = gate.admit(ops, none)!;
    expect(admission.wait).toEqual([true, true, false, true]);
    // A member already waiting on this shard keeps its next batch's ops back too.
    expect(gate.admit([purchase('b'), purchase('e')], new Set(['b']))!.wait).toEqual([true, false]);
    let changed = 0;
    gate.onChange(() => { changed += 1; });
    gate.release(held.held);
    expect(changed).toBe(1);
    expect(gate.stockOf(p.rewards[0]!)).toMatchObject({ stockLeft: 1, held: 0 });
  });

  it('leaves programs without stocked rewards untouched, and unlimited rewards without units', () => {
    const plain = new RewardGate(() => demoProgram(), []);
    expect(plain.admit([purchase('a'), redeem('a', 'mug')], none)).toBeNull();
    const p = program([reward('mug', 5), reward('pen', null)]);
    const gate = new RewardGate(() => p, []);
    const ops: WriteOp[] = [redeem('a', 'pen', 3), purchase('a')];
    expect(gate.admit(ops, none)).toBeNull();
    expect((ops[0] as RewardRedeemOp).stockAllow).toBeUndefined();
  });

  it('a restock that lowers the stock takes units like a redemption; one that raises it takes none', () => {
    const p = program([reward('mug', 2)]);
    const gate = new RewardGate(() => p, []);
    const stock = (delta: number): RewardStockOp => ({ op: 'reward_stock', memberId: '', rewardId: 'mug', delta, key: 'req:s' + delta, fp: 0, atMs: 0 });
    const ops: WriteOp[] = [stock(-2), stock(5)];
    const a = gate.admit(ops, none)!;
    expect(ops.map((o) => (o as RewardStockOp).stockAllow)).toEqual([2, undefined]);
    gate.settle(a.held, { mug: [0, 3] });
    expect(gate.stockOf(p.rewards[0]!).stockLeft).toBe(5);
  });

  it('supplies a coupon reward with a code per unit and, for a capped template, units of it, all or none', () => {
    const p: Program = {
      ...program([reward('tea', null, { kind: 'coupon', couponTemplateId: 'tea5' })]),
      coupons: [{
        id: 'tea5', name: 'tea', active: true, discount: { amountCents: 500 }, minSpendCents: 0, eligibleTiers: null,
        channels: ['online', 'offline'], validDays: 30, validFrom: null, validTo: null, perMemberMax: null, totalMax: 3, restoreOnFullReturn: true,
      }],
    };
    const coupons = new CouponGate(1, () => p, []);
    const ops: RewardRedeemOp[] = [redeem('a', 'tea', 2), redeem('b', 'tea', 2)];
    coupons.supply(ops, 0);
    expect(ops[0]!.newCodes).toHaveLength(3);
    expect(ops[0]!.couponAllow).toEqual(['tea5', 'tea5']);
    expect(ops[1]!.couponAllow).toBeUndefined();
    expect(coupons.countOf('tea5')).toEqual({ issued: 0, held: 2 });
  });
});
