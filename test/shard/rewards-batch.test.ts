// Rewards and count cards in the shard's batches (docs/rules.md §14), run in-process: a redemption
// debits points oldest grants first and takes the units the router reserved, every refusal leaves
// the books as they were, a cancellation puts the points back into grants that then expire on their
// original dates, a coupon reward issues its coupons at once, restocks move the shard's counter; a
// ten-use card is used ten times, refused the eleventh, renewed and lapsed by the sweep; verify
// folds it all.
import { afterEach, describe, expect, it } from 'vitest';
import { ShardHarness } from '../helpers/shard-harness.js';
import { demoProgram } from '../../engine/rules/program.js';
import type { Program, Reward } from '../../engine/rules/program-types.js';
import type { OpResult, WriteOp } from '../../engine/ops.js';
import { rewardCounts } from '../../engine/shard/reward-queries.js';
import { getOrder } from '../../engine/shard/store.js';

const AT = Date.parse('2026-03-10T02:00:00Z');
const DAY = 86_400_000;
let h: ShardHarness;
afterEach(async () => { await h?.close(); });

const reward = (id: string, more: Partial<Reward> = {}): Reward => ({
  id, name: id, active: true, pointsCost: 100, cashCents: 0, kind: 'goods', couponTemplateId: null, eligibleTiers: null,
  stock: 10, perMemberMax: null, from: null, to: null, ...more,
});

function program(more: Partial<Program> = {}): Program {
  const p = demoProgram();
  return {
    ...p,
    pointsExpiryDays: 100,
    coupons: [{
      id: 'tea5', name: 'tea', active: true, discount: { amountCents: 500 }, minSpendCents: 0, eligibleTiers: null,
      channels: ['online', 'offline'], validDays: 30, validFrom: null, validTo: null, perMemberMax: null, totalMax: null, restoreOnFullReturn: true,
    }],
    rewards: [
      reward('mug', { cashCents: 250 }),
      reward('pen', { stock: null, perMemberMax: 2 }),
      reward('gold-gift', { eligibleTiers: ['gold'] }),
      reward('old', { active: false }),
      reward('winter', { from: '2026-12-01', to: '2026-12-31' }),
      reward('tea', { kind: 'coupon', couponTemplateId: 'tea5', stock: null, pointsCost: 50 }),
    ],
    products: [...p.products, {
      id: 'haircut-10', name: 'Ten haircuts', priceCents: 80_000, active: true, channels: ['online', 'offline'], eligibleTiers: null,
      includes: { card: { serviceId: 'haircut', uses: 10, validDays: 30 } },
    }],
    ...more,
  };
}

const register = (memberId: string, atMs = AT): WriteOp => ({ op: 'register', memberId, key: `reg:${memberId}`, fp: 1, atMs, referralChain: [] });
const adjust = (memberId: string, points: number, key: string, atMs: number): WriteOp => ({ op: 'adjust', memberId, points, reason: 'test', key, fp: 2, atMs });
const redeem = (memberId: string, rewardId: string, id: string, more: Record<string, unknown> = {}, atMs = AT + DAY): WriteOp =>
  ({ op: 'reward_redeem', memberId, rewardId, quantity: 1, redemptionId: id, key: 'req:' + id, fp: 5, atMs, ...more } as WriteOp);
const fulfil = (memberId: string, id: string, atMs = AT + 2 * DAY): WriteOp => ({ op: 'reward_fulfil', memberId, redemptionId: id, key: 'rful:' + id, fp: 6, atMs });
const cancel = (memberId: string, id: string, atMs = AT + 2 * DAY): WriteOp => ({ op: 'reward_cancel', memberId, redemptionId: id, key: 'rcan:' + id, fp: 7, atMs });
const ok = (r: OpResult): Record<string, unknown> => {
  if (!r.ok) throw new Error(`refused: ${JSON.stringify(r.error)}`);
  return r;
};
const refusal = (r: OpResult): string => (r.ok ? 'ok' : `${r.error.code}:${r.error.message}:${r.error.field ?? ''}`);
/** What a refused op must leave as it was: the member's state and entries, and the shard's stock counters. */
const snapshot = (memberId: string) => JSON.stringify([h.state(memberId), h.entries(memberId), rewardCounts(h.shards[0]!.store)]);

describe('rewards in a shard batch', () => {
  it('debits points oldest grants first, takes the reserved units, and keeps the redemption', () => {
    h = new ShardHarness(program(), 1);
    ok(h.one(register('m1')));
    ok(h.one(adjust('m1', 80, 'a1', AT)));
    ok(h.one(adjust('m1', 500, 'a2', AT + 10 * DAY)));
    const r = ok(h.one(redeem('m1', 'mug', 'r1', { quantity: 2, stockAllow: 2, storeId: 'tst' }, AT + 20 * DAY)));
    expect(r).toMatchObject({
      redemptionId: 'r1', rewardId: 'mug', kind: 'goods', quantity: 2, redeemedPoints: 200, cashCents: 500, storeId: 'tst', state: 'reserved',
      points: 380, replayed: false,
    });
    // The grant of the 80 points went first, then 120 of the 500.
    expect(h.state('m1')!.grants.map((g) => g.remaining)).toEqual([380]);
    expect(rewardCounts(h.shards[0]!.store)).toEqual({ mug: { taken: 2, added: 0 } });
    expect(h.entries('m1').slice(-1)[0]).toMatchObject({ kind: 'reward_redeem', ref: 'r1', pointsDelta: -200 });
    // A retry answers the first answer.
    expect(h.one(redeem('m1', 'mug', 'r1', { quantity: 2, stockAllow: 2, storeId: 'tst' }, AT + 20 * DAY))).toMatchObject({ ok: true, replayed: true, points: 380 });
    ok(h.one(fulfil('m1', 'r1', AT + 21 * DAY)));
    expect(refusal(h.one(fulfil('m1', 'r1', AT + 22 * DAY)))).toBe('ok');
    expect(refusal(h.one(fulfil('m1', 'r1x', AT + 22 * DAY)))).toBe('redemption_not_found:no redemption with that id for that member:redemptionId');
    expect(refusal(h.one(cancel('m1', 'r1', AT + 22 * DAY)))).toBe('redemption_closed:fulfilled:redemptionId');
    expect(h.mismatches()).toEqual([]);
  });

  it('refuses with exact codes and leaves everything as it was', () => {
    h = new ShardHarness(program(), 1);
    ok(h.one(register('m1')));
    ok(h.one(adjust('m1', 250, 'a1', AT)));
    ok(h.one(redeem('m1', 'pen', 'p1')));
    ok(h.one(redeem('m1', 'pen', 'p2')));
    const before = snapshot('m1');
    const cases: Array<[WriteOp, string]> = [
      [redeem('m1', 'cup', 'x1'), 'reward_not_found:no reward with that id in the program:rewardId'],
      [redeem('m1', 'old', 'x2', { stockAllow: 1 }), 'reward_unavailable:inactive:rewardId'],
      [redeem('m1', 'gold-gift', 'x3', { stockAllow: 1 }), 'reward_unavailable:tier:rewardId'],
      [redeem('m1', 'winter', 'x4', { stockAllow: 1 }), 'reward_unavailable:not_started:rewardId'],
      [redeem('m1', 'pen', 'x5'), 'reward_limit:at most 2 per member:quantity'],
      [redeem('m1', 'mug', 'x6'), 'out_of_stock:the reward\'s stock is used up:rewardId'],
      [redeem('m1', 'mug', 'x7', { stockAllow: 1, quantity: 2 }), 'out_of_stock:the reward\'s stock is used up:rewardId'],
      [redeem('m1', 'mug', 'x8', { stockAllow: 1 }), 'insufficient_points:100 points needed:rewardId'],
      [redeem('m1', 'mug', 'x9', { stockAllow: 101, quantity: 101 }), 'invalid_request:the request is malformed or a field is invalid:quantity'],
      [cancel('m1', 'nope'), 'redemption_not_found:no redemption with that id for that member:redemptionId'],
    ];
    for (const [op, expected] of cases) expect(refusal(h.one(op))).toBe(expected);
    expect(snapshot('m1')).toBe(before);
    expect(h.state('m1')!.points).toBe(50);
    expect(h.mismatches()).toEqual([]);
  });

  it('a cancellation restores the points to their grants, which then expire on their original dates, and gives the units back', () => {
    h = new ShardHarness(program(), 1);
    ok(h.one(register('m1')));
    ok(h.one(adjust('m1', 60, 'a1', AT)));
    ok(h.one(adjust('m1', 100, 'a2', AT + 30 * DAY)));
    ok(h.one(redeem('m1', 'mug', 'r1', { stockAllow: 1 }, AT + 40 * DAY)));
    expect(h.state('m1')!.grants.map((g) => [g.expiresAt, g.remaining])).toEqual([[AT + 130 * DAY, 60]]);
    const c = ok(h.one(cancel('m1', 'r1', AT + 50 * DAY)));
    expect(c).toMatchObject({ state: 'cancelled', restoredPoints: 100, points: 160 });
    expect(h.state('m1')!.grants.map((g) => [g.expiresAt, g.remaining])).toEqual([[AT + 100 * DAY, 60], [AT + 130 * DAY, 100]]);
    expect(rewardCounts(h.shards[0]!.store)).toEqual({ mug: { taken: 0, added: 0 } });
    h.sweep(AT + 100 * DAY);
    expect(h.state('m1')!.points).toBe(100);
    h.sweep(AT + 130 * DAY);
    expect(h.state('m1')!.points).toBe(0);
    expect(h.entries('m1').filter((e) => e.kind === 'expire').map((e) => [e.at, e.pointsDelta])).toEqual([[AT + 100 * DAY, -60], [AT + 130 * DAY, -100]]);
    expect(refusal(h.one(cancel('m1', 'r1', AT + 131 * DAY)))).toBe('ok');
    expect(refusal(h.one({ ...cancel('m1', 'r1', AT + 131 * DAY), key: 'rcan2' } as WriteOp))).toBe('redemption_closed:cancelled:redemptionId');
    expect(h.mismatches()).toEqual([]);
  });

  it('a coupon reward issues its coupons at once; its cancellation revokes them, once used it is closed', () => {
    h = new ShardHarness(program(), 1);
    ok(h.one(register('m1')));
    ok(h.one(adjust('m1', 500, 'a1', AT)));
    const r = ok(h.one(redeem('m1', 'tea', 't1', { quantity: 2, newCodes: ['C00000000001', 'C00000000002', 'C00000000003'] })));
    expect(r).toMatchObject({ state: 'fulfilled', redeemedPoints: 100, couponCodes: ['C00000000001', 'C00000000002'] });
    expect((r['couponsIssued'] as unknown[]).length).toBe(2);
    expect(h.entries('m1').slice(-4).map((e) => `${e.kind}:${e.ref}`)).toEqual(['reward_redeem:t1', 'coupon_issue:C00000000001', 'coupon_issue:C00000000002', 'reward_fulfil:t1']);
    // Without codes for both units, nothing is issued.
    expect(refusal(h.one(redeem('m1', 'tea', 't2', { quantity: 2, newCodes: ['C00000000004'] })))).toBe('internal:no coupon code was supplied for the redemption:');
    ok(h.one(cancel('m1', 't1')));
    expect(h.shards[0]!.store.coupons.get('C00000000001')!.state).toBe('revoked');
    ok(h.one(redeem('m1', 'tea', 't3', { newCodes: ['C00000000005', 'C00000000006'] })));
    ok(h.one({ op: 'purchase', memberId: 'm1', orderId: 'o1', key: 'order:o1', fp: 9, atMs: AT + 2 * DAY, amountCents: 5_000, discountCents: 0, redeemPoints: 0, walletCents: 0, couponCodes: ['C00000000005'] }));
    expect(refusal(h.one(cancel('m1', 't3', AT + 3 * DAY)))).toBe('redemption_closed:coupon_used:redemptionId');
    expect(h.state('m1')!.points).toBe(500 - 50 + 2);
    expect(h.mismatches()).toEqual([]);
  });

  it('restocks move the shard\'s counter; taking units off needs them reserved', () => {
    h = new ShardHarness(program(), 1);
    const stock = (delta: number, key: string, more: Record<string, unknown> = {}): WriteOp => ({ op: 'reward_stock', memberId: '', rewardId: 'mug', delta, key, fp: 8, atMs: AT, ...more } as WriteOp);
    expect(ok(h.one(stock(5, 's1')))).toMatchObject({ rewardId: 'mug', delta: 5 });
    expect(refusal(h.one(stock(-2, 's2')))).toBe('out_of_stock:the stock left is less than the units taken off:delta');
    ok(h.one(stock(-2, 's3', { stockAllow: 2 })));
    expect(refusal(h.one({ ...stock(1, 's4'), rewardId: 'cup' } as WriteOp))).toBe('reward_not_found:no reward with that id in the program:rewardId');
    expect(rewardCounts(h.shards[0]!.store)).toEqual({ mug: { taken: 0, added: 3 } });
    expect(h.mismatches()).toEqual([]);
  });
});

describe('count cards in a shard batch', () => {
  const product = (memberId: string, orderId: string, atMs: number): WriteOp => ({ op: 'product', memberId, orderId, productId: 'haircut-10', key: 'prod:' + orderId, fp: 4, atMs });
  const use = (memberId: string, key: string, atMs: number, more: Record<string, unknown> = {}): WriteOp =>
    ({ op: 'card_use', memberId, serviceId: 'haircut', uses: 1, key, fp: 3, atMs, ...more } as WriteOp);

  it('a ten-use card is used ten times, the eleventh is refused, a renewal adds uses and the later expiry, the sweep lapses it', () => {
    h = new ShardHarness(program(), 1);
    ok(h.one(register('m1')));
    const bought = ok(h.one(product('m1', 'c1', AT)));
    // Valid for 30 local days after the day of purchase: to the start of 2026-04-10 in Hong Kong.
    expect(bought['card']).toMatchObject({ serviceId: 'haircut', usesLeft: 10, expiresAt: '2026-04-09T16:00:00.000Z', state: 'active' });
    for (let i = 0; i < 10; i++) expect(ok(h.one(use('m1', `u${i}`, AT + (i + 1) * 3_600_000, { staffId: 'amy', storeId: 'tst' })))['usesLeft']).toBe(9 - i);
    const before = JSON.stringify([h.state('m1'), h.entries('m1')]);
    expect(refusal(h.one(use('m1', 'u10', AT + DAY)))).toBe('card_exhausted:0 uses left:uses');
    expect(refusal(h.one({ ...use('m1', 'u11', AT + DAY), serviceId: 'wash' } as WriteOp))).toBe('card_not_found:the member has no count card for that service:serviceId');
    expect(JSON.stringify([h.state('m1'), h.entries('m1')])).toBe(before);
    const renewed = ok(h.one(product('m1', 'c2', AT + 10 * DAY)));
    expect(renewed['card']).toMatchObject({ usesLeft: 10, expiresAt: '2026-04-19T16:00:00.000Z' });
    ok(h.one(use('m1', 'u12', AT + 11 * DAY, { uses: 3 })));
    ok(h.one({ op: 'card_adjust', memberId: 'm1', serviceId: 'haircut', uses: 2, reason: 'goodwill', key: 'adj1', fp: 1, atMs: AT + 12 * DAY }));
    expect(refusal(h.one({ op: 'card_adjust', memberId: 'm1', serviceId: 'haircut', uses: -10, reason: 'fix', key: 'adj2', fp: 1, atMs: AT + 12 * DAY }))).toBe('card_exhausted:9 uses left:uses');
    const expiry = Date.parse('2026-04-19T16:00:00.000Z');
    h.sweep(expiry - 1);
    expect(h.shards[0]!.store.cards.get(['m1', 'haircut'])).toMatchObject({ state: 'active', usesLeft: 9 });
    h.sweep(expiry);
    expect(h.shards[0]!.store.cards.get(['m1', 'haircut'])).toMatchObject({ state: 'expired', usesLeft: 0, usedTotal: 13 });
    expect(h.entries('m1').filter((e) => e.kind.startsWith('card_')).map((e) => `${e.kind}:${e.usesDelta}`)).toEqual([
      'card_add:10', ...Array.from({ length: 10 }, () => 'card_use:-1'), 'card_add:10', 'card_use:-3', 'card_adjust:2', 'card_expire:-9',
    ]);
    expect(h.entries('m1').slice(-1)[0]).toMatchObject({ kind: 'card_expire', at: expiry, ref: 'haircut' });
    expect(refusal(h.one(use('m1', 'u13', expiry + 1)))).toBe('card_expired:the card expired at 2026-04-19T16:00:00.000Z:serviceId');
    // Bought again after its expiry: a new card.
    expect(ok(h.one(product('m1', 'c3', expiry + DAY)))['card']).toMatchObject({ usesLeft: 10, state: 'active', usedTotal: 13 });
    expect(h.mismatches()).toEqual([]);
  });

  it('a renewal of a card past its expiry the sweep has not reached lapses it first, dated at its expiry', () => {
    h = new ShardHarness(program(), 1);
    ok(h.one(register('m1')));
    ok(h.one(product('m1', 'c1', AT)));
    const expiry = Date.parse('2026-04-09T16:00:00.000Z');
    expect(refusal(h.one(use('m1', 'u1', expiry)))).toBe('card_expired:the card expired at 2026-04-09T16:00:00.000Z:serviceId');
    ok(h.one(product('m1', 'c2', expiry + DAY)));
    expect(h.entries('m1').filter((e) => e.kind.startsWith('card_')).map((e) => [e.kind, e.at, e.usesDelta])).toEqual([
      ['card_add', AT, 10], ['card_expire', expiry, -10], ['card_add', expiry + DAY, 10],
    ]);
    expect(h.mismatches()).toEqual([]);
  });

  it('a purchase keeps its staff member on the order', () => {
    h = new ShardHarness(program(), 1);
    ok(h.one(register('m1')));
    ok(h.one({ op: 'purchase', memberId: 'm1', orderId: 'o1', key: 'order:o1', fp: 9, atMs: AT, amountCents: 5_000, discountCents: 0, redeemPoints: 0, walletCents: 0, staffId: 'amy' }));
    expect(getOrder(h.shards[0]!.store, 'o1')!.staffId).toBe('amy');
  });
});
