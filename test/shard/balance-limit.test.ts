// Credits that do not pass through the WASM core (a return's refund and restored points, product
// includes, registration balances, outbox credits, the sweep's bonuses) never take a balance past
// 2^53 − 1: a request is refused with balance_limit and nothing of it is written, while the other
// ops of its batch go on; a cross-shard credit that cannot land goes back or is dropped, visibly,
// with every balance equal to the fold of its ledger and the money conserved.
import { afterEach, describe, expect, it } from 'vitest';
import { getOrder } from '../../engine/shard/store.js';
import { ShardHarness } from '../helpers/shard-harness.js';
import { demoProgram } from '../../engine/rules/program.js';
import { hashId } from '../../engine/router/member-hash.js';
import type { Program } from '../../engine/rules/program-types.js';
import type { OpResult, RegisterOp, WriteOp } from '../../engine/ops.js';

const MAX = Number.MAX_SAFE_INTEGER;
const AT = Date.parse('2026-03-10T02:00:00Z');
let h: ShardHarness;
afterEach(async () => { await h.close(); });

let seq = 0;
const register = (memberId: string, extra: Partial<RegisterOp> = {}): RegisterOp =>
  ({ op: 'register', memberId, key: 'reg:m:' + memberId, fp: 1, atMs: AT, referralChain: [], ...extra });
const purchase = (memberId: string, orderId: string, amountCents: number, more: { walletCents?: number; redeemPoints?: number } = {}): WriteOp =>
  ({ op: 'purchase', memberId, orderId, key: orderId, fp: 2, atMs: AT + 1000, amountCents, discountCents: 0, redeemPoints: more.redeemPoints ?? 0, walletCents: more.walletCents ?? 0 });
const keyed = () => ({ key: `req:${++seq}`, fp: 3, atMs: AT + 2000 });
const topup = (memberId: string, amountCents: number): WriteOp => ({ op: 'topup', memberId, amountCents, ...keyed() });
const withdraw = (memberId: string, amountCents: number): WriteOp => ({ op: 'withdraw', memberId, amountCents, ...keyed() });
const adjust = (memberId: string, points: number): WriteOp => ({ op: 'adjust', memberId, points, reason: 'test', ...keyed() });
const returnOf = (memberId: string, orderId: string, amountCents: number): WriteOp =>
  ({ op: 'return', memberId, orderId, returnId: `${orderId}-r${++seq}`, amountCents, key: `ret:${orderId}-${seq}`, fp: 4, atMs: AT + 3000 });
const product = (memberId: string, productId: string): WriteOp => ({ op: 'product', memberId, productId, orderId: `p${++seq}`, key: `prod:${seq}`, fp: 5, atMs: AT + 4000 });
const code = (r: OpResult) => (r.ok ? 'ok' : r.error.code);

/** Everything a refusal must leave as it was: the member's state and entries, the order, the shard's totals. */
function snapshot(memberId: string, orderId?: string): unknown {
  const s = h.shardOf(memberId).store;
  return { state: h.state(memberId), entries: h.entries(memberId), order: orderId === undefined ? null : s.orders.get(orderId), totals: s.meta.get('totals') };
}

/** Two member ids on different shards of a two-shard harness. */
function apart(prefix: string): [string, string] {
  const a = `${prefix}-a`;
  for (let i = 0; ; i++) if (hashId(`${prefix}-b${i}`) % 2 !== hashId(a) % 2) return [a, `${prefix}-b${i}`];
}

/** A member id on the same shard as `memberId`. */
function beside(memberId: string): string {
  for (let i = 0; ; i++) if (hashId(`${memberId}-n${i}`) % 2 === hashId(memberId) % 2) return `${memberId}-n${i}`;
}

describe('a return past the limit', () => {
  it('is refused when the wallet refund would not fit, writes nothing, and fails no other op of its batch', () => {
    h = new ShardHarness(demoProgram());
    expect(code(h.one(register('w1', { walletCents: MAX - 1_000 })))).toBe('ok');
    expect(code(h.one(purchase('w1', 'o1', 10_000, { walletCents: 5_000 })))).toBe('ok');
    expect(code(h.one(topup('w1', 5_500)))).toBe('ok');
    expect(h.state('w1')!.walletCents).toBe(MAX - 500);
    const other = beside('w1');
    h.one(register(other));
    const before = snapshot('w1', 'o1');
    const results = h.batch([returnOf('w1', 'o1', 5_000), { op: 'quote', memberId: 'w1', amountCents: 100, atMs: AT + 3000 }, topup(other, 100)]);
    expect(results[0]).toMatchObject({ ok: false, error: { code: 'balance_limit', field: 'amountCents' } });
    expect(results[1]).toMatchObject({ ok: true, walletBalanceCents: MAX - 500 });
    expect(results[2]).toMatchObject({ ok: true, walletBalanceCents: 100 });
    expect(snapshot('w1', 'o1')).toEqual({ ...(before as object), totals: expect.anything() });
    expect(getOrder(h.shardOf('w1').store, 'o1')!.returns).toEqual([]);
    // Once the wallet has room, the same return goes through.
    expect(code(h.one(withdraw('w1', 10_000)))).toBe('ok');
    expect(h.one(returnOf('w1', 'o1', 5_000))).toMatchObject({ ok: true, walletRefundCents: 5_000, walletBalanceCents: MAX - 5_500 });
    expect(h.mismatches()).toEqual([]);
  });

  it('is refused when the restored points would not fit', () => {
    h = new ShardHarness(demoProgram());
    h.one(register('p1', { points: MAX - 1_000 }));
    // 100 points pay $10 of a $10 order: net 0, nothing earned.
    expect(h.one(purchase('p1', 'o2', 1_000, { redeemPoints: 100 }))).toMatchObject({ ok: true, netCents: 0, points: MAX - 1_100 });
    expect(code(h.one(adjust('p1', 1_050)))).toBe('ok');
    const before = snapshot('p1', 'o2');
    expect(h.one(returnOf('p1', 'o2', 0))).toMatchObject({ ok: false, error: { code: 'balance_limit' } });
    expect(snapshot('p1', 'o2')).toEqual(before);
    expect(h.mismatches()).toEqual([]);
  });
});

describe('a product past the limit', () => {
  const program = (): Program => ({
    ...demoProgram(),
    tiers: demoProgram().tiers.map((t) => (t.id === 'silver' ? { ...t, upgradeBonusPoints: 100 } : t)),
    products: [
      { id: 'points', name: 'Points', priceCents: 100, active: true, channels: ['online', 'offline'], eligibleTiers: null, includes: { points: 1_000 } },
      { id: 'wallet', name: 'Wallet', priceCents: 100, active: true, channels: ['online', 'offline'], eligibleTiers: null, includes: { walletCents: 1_000 } },
      { id: 'silver', name: 'Silver', priceCents: 100, active: true, channels: ['online', 'offline'], eligibleTiers: null, includes: { tierId: 'silver' } },
      { id: 'century', name: 'A hundred years', priceCents: 100, active: true, channels: ['online', 'offline'], eligibleTiers: null, includes: { extendDays: 36_500 } },
    ],
  });

  it('is refused for its points, its upgrade bonus and its wallet credit, writing nothing', () => {
    h = new ShardHarness(program());
    h.one(register('q1', { points: MAX - 500, walletCents: MAX - 500 }));
    const before = snapshot('q1');
    for (const id of ['points', 'wallet']) {
      expect(h.one(product('q1', id))).toMatchObject({ ok: false, error: { code: 'balance_limit', field: 'productId' } });
    }
    h.one(adjust('q1', 450));
    const upgraded = snapshot('q1');
    // The upgrade bonus of 100 on MAX - 50 does not fit.
    expect(h.one(product('q1', 'silver'))).toMatchObject({ ok: false, error: { code: 'balance_limit' } });
    expect(snapshot('q1')).toEqual(upgraded);
    expect(before).not.toEqual(upgraded);
    expect(h.mismatches()).toEqual([]);
  });

  it('is refused when its extension would move the period end past 9999', () => {
    h = new ShardHarness(program());
    h.one(register('q2', { tierId: 'silver' }));
    let refused: OpResult | null = null;
    for (let i = 0; i < 100 && refused === null; i++) {
      const r = h.one(product('q2', 'century'));
      if (!r.ok) refused = r;
    }
    expect(refused).toMatchObject({ ok: false, error: { code: 'balance_limit', message: 'the period would end after 9999-12-31' } });
    expect(new Date(h.state('q2')!.periodEnd!).getUTCFullYear()).toBeGreaterThan(9900);
    expect(h.mismatches()).toEqual([]);
  });
});

describe('a registration past the limit', () => {
  it('is refused with nothing written, in the general and the bulk path alike', () => {
    h = new ShardHarness({ ...demoProgram(), signupPoints: 10 });
    expect(h.one(register('r1', { points: MAX }))).toMatchObject({ ok: false, error: { code: 'balance_limit', field: 'points' } });
    expect(h.state('r1')).toBeUndefined();
    expect(h.entries('r1')).toEqual([]);
    expect(code(h.one(register('r2', { points: MAX - 10 })))).toBe('ok');
    expect(h.state('r2')!.points).toBe(MAX);
  });
});

describe('an outbox credit past the limit', () => {
  it('sends a transfer its target cannot take back to the sender, once, with the money conserved', () => {
    h = new ShardHarness(demoProgram());
    const [from, to] = apart('t');
    h.one(register(from, { walletCents: 10_000 }));
    h.one(register(to, { walletCents: MAX - 10 }));
    expect(code(h.one({ op: 'transfer', memberId: from, toMemberId: to, amountCents: 100, key: 'req:tx1', fp: 6, atMs: AT + 5000 }))).toBe('ok');
    const arrival = h.mail[0]!;
    h.deliver();
    expect(h.deliveries.map((d) => [d.msg.kind, d.result.ok])).toEqual([['transfer_in', true], ['transfer_return', true]]);
    expect(h.deliveries[0]!.result).toMatchObject({ refused: { code: 'balance_limit' }, returnedTo: from });
    expect(h.state(to)!.walletCents).toBe(MAX - 10);
    expect(h.state(from)!.walletCents).toBe(10_000);
    expect(h.entries(from).map((e) => [e.kind, e.walletDeltaCents, e.ref])).toEqual([['register', 10_000, 'reg:m:' + from], ['transfer_out', -100, 'req:tx1'], ['transfer_return', 100, 'req:tx1']]);
    expect(h.entries(to).map((e) => e.kind)).toEqual(['register']);
    // The arrival delivered again (a crash before the outbox was cleared) replays: nothing more goes back.
    expect(h.one(ShardHarness.creditOf(arrival))).toMatchObject({ ok: true, replayed: true, returnedTo: from });
    expect(h.mail).toEqual([]);
    expect(h.mismatches()).toEqual([]);
  });

  it('keeps a transfer coming back that the sender cannot take either, until the sender has room', () => {
    h = new ShardHarness(demoProgram());
    const [from, to] = apart('u');
    h.one(register(from, { walletCents: MAX - 20_000 }));
    h.one(register(to, { walletCents: MAX - 10 }));
    h.one({ op: 'transfer', memberId: from, toMemberId: to, amountCents: 100, key: 'req:tx2', fp: 6, atMs: AT + 5000 });
    h.one(topup(from, 20_050));
    h.deliver();
    const back = h.deliveries[1]!;
    expect(back.msg.kind).toBe('transfer_return');
    expect(back.result).toMatchObject({ ok: false, error: { code: 'balance_limit' } });
    expect(h.state(from)!.walletCents).toBe(MAX - 50);
    expect(h.mismatches()).toEqual([]);
    h.one(withdraw(from, 1_000));
    expect(h.one(ShardHarness.creditOf(back.msg))).toMatchObject({ ok: true, walletCents: 100 });
    // Every cent is in one wallet: the sender's top-up and withdrawal are all that changed the sum.
    expect([h.state(from)!.walletCents, h.state(to)!.walletCents]).toEqual([MAX - 20_000 - 100 + 20_050 - 1_000 + 100, MAX - 10]);
    expect(h.mismatches()).toEqual([]);
  });

  it('drops a referral reward the ancestor cannot take, as an entry of 0 points', () => {
    const program: Program = { ...demoProgram(), referral: { enabled: true, refereePoints: 0, levels: [{ registerPoints: 100, firstPurchasePoints: 0, repeatPurchasePoints: 0, purchaseSharePct: 0 }] } };
    h = new ShardHarness(program);
    h.one(register('anc', { points: MAX - 5 }));
    expect(code(h.one(register('kid', { referrerId: 'anc', referralChain: ['anc'] })))).toBe('ok');
    h.deliver();
    expect(h.deliveries[0]!.result).toMatchObject({ ok: true, points: 0, droppedPoints: 100 });
    expect(h.entries('anc').map((e) => [e.kind, e.pointsDelta])).toEqual([['register', MAX - 5], ['referral_reward', 0]]);
    expect(h.state('anc')!.points).toBe(MAX - 5);
    expect(h.mismatches()).toEqual([]);
  });
});

describe('a sweep bonus past the limit', () => {
  it('pays what fits of a birthday gift and of a renewal bonus', () => {
    const program: Program = {
      ...demoProgram(), birthday: { bonusPoints: 100, multiplierPct: 100 }, membershipDays: 30,
      tiers: demoProgram().tiers.map((t) => (t.id === 'silver' ? { ...t, retainThreshold: 0, renewalBonusPoints: 100 } : t)),
    };
    h = new ShardHarness(program);
    h.one(register('b1', { points: MAX - 5, birthday: '1990-03-20' }));
    h.one(register('b2', { points: MAX - 7, tierId: 'silver' }));
    h.sweep(Date.parse('2026-04-15T00:00:00Z'));
    expect(h.entries('b1').map((e) => [e.kind, e.pointsDelta])).toEqual([['register', MAX - 5], ['birthday', 5]]);
    expect(h.entries('b2').map((e) => [e.kind, e.pointsDelta])).toEqual([['register', MAX - 7], ['renew', 7]]);
    expect([h.state('b1')!.points, h.state('b2')!.points]).toEqual([MAX, MAX]);
    expect(h.mismatches()).toEqual([]);
  });
});
