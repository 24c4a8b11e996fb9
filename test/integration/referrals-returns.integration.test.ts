// the three-level referral program (docs/program.md) on four shards: a three-level referral tree, rewards on registration,
// first and repeat purchases, returns partial and full that reverse everything at every level,
// the first purchase re-armed, wallet transfers across shards, and verify clean after each step.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerProcess, refusal } from '../helpers/server-process.js';
import { hashId } from '../../engine/router/member-hash.js';

const SHARDS = 4;
const server = new ServerProcess(ServerProcess.tempDataDir(), { LOYALTY_SHARDS: String(SHARDS) });

beforeAll(async () => {
  await server.start();
  const program = (await server.call('GET /v1/program'));
  const r = await server.call('PUT /v1/program', { body: {
    ...program,
    referral: {
      enabled: true, refereePoints: 50,
      levels: [
        { registerPoints: 100, firstPurchasePoints: 200, repeatPurchasePoints: 20, purchaseSharePct: 10 },
        { registerPoints: 50, firstPurchasePoints: 100, repeatPurchasePoints: 10, purchaseSharePct: 5 },
        { registerPoints: 25, firstPurchasePoints: 50, repeatPurchasePoints: 5, purchaseSharePct: 2 },
      ],
    },
  } });
});
afterAll(async () => { await server.stop(); server.cleanup(); });

const ids = ['root', 'ann', 'ben', 'cat'] as const;

/** Points of every member of the tree, once every cross-shard credit has landed. */
async function points(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const id of ids) out[id] = (await server.call('GET /v1/members/:id', { params: { id } })).points;
  return out;
}

/** Cross-shard credits follow the ack within milliseconds: wait until the balances settle. */
async function settled(expected: Record<string, number>): Promise<void> {
  const deadline = Date.now() + 5_000;
  let seen = await points();
  while (JSON.stringify(seen) !== JSON.stringify(expected) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    seen = await points();
  }
  expect(seen).toEqual(expected);
  expect((await server.call('GET /v1/admin/verify'))).toMatchObject({ ok: true, mismatches: [] });
}

const buy = (orderId: string, memberId: string, amountCents: number) => server.call('POST /v1/purchases', { body: { orderId, memberId, amountCents } });
const ret = (returnId: string, orderId: string, amountCents: number) => server.call('POST /v1/returns', { body: { returnId, orderId, amountCents } });

describe('three levels of referral', () => {
  it('spreads the tree over several shards', () => {
    expect(new Set(ids.map((id) => hashId(id) % SHARDS)).size).toBeGreaterThan(1);
  });

  it('rewards the new member and every ancestor on registration', async () => {
    await server.call('POST /v1/members', { body: { memberId: 'root' } });
    await server.call('POST /v1/members', { body: { memberId: 'ann', referrerId: 'root' } });
    await server.call('POST /v1/members', { body: { memberId: 'ben', referrerId: 'ann' } });
    const cat = await server.call('POST /v1/members', { body: { memberId: 'cat', referrerId: 'ben' } });
    expect(cat).toMatchObject({ referrerId: 'ben', referralChain: ['ben', 'ann', 'root'], points: 50 });
    await settled({ root: 175, ann: 200, ben: 150, cat: 50 });
  });

  it('refuses an unknown referrer', async () => {
    expect(await refusal(server.call('POST /v1/members', { body: { memberId: 'orphan', referrerId: 'ghost' } }))).toMatchObject({ status: 404, code: 'referrer_not_found', field: 'referrerId' });
    expect((await refusal(server.call('GET /v1/members/:id', { params: { id: 'orphan' } }))).status).toBe(404);
  });

  it('pays first-purchase rewards and shares up the chain', async () => {
    const a = await buy('ann-1', 'ann', 60000);
    expect(a).toMatchObject({ earnedPoints: 30, referralRewards: [{ memberId: 'root', points: 203 }] });
    await settled({ root: 378, ann: 230, ben: 150, cat: 50 });
    const b = await buy('ben-1', 'ben', 40000);
    expect(b.referralRewards).toEqual([{ memberId: 'ann', points: 202 }, { memberId: 'root', points: 101 }]);
    await settled({ root: 479, ann: 432, ben: 170, cat: 50 });
    const c = await buy('cat-1', 'cat', 100000);
    expect(c).toMatchObject({ earnedPoints: 50, upgradedTo: 'silver' });
    expect(c.referralRewards).toEqual([{ memberId: 'ben', points: 205 }, { memberId: 'ann', points: 102 }, { memberId: 'root', points: 51 }]);
    await settled({ root: 530, ann: 534, ben: 375, cat: 100 });
  });

  it('pays repeat rewards on every later purchase', async () => {
    const a = await buy('ann-2', 'ann', 20000);
    expect(a.referralRewards).toEqual([{ memberId: 'root', points: 21 }]);
    await settled({ root: 551, ann: 544, ben: 375, cat: 100 });
  });

  it('links each reward to its order on the ancestor\'s ledger', async () => {
    const ledger = (await server.call('GET /v1/members/:id/ledger', { params: { id: 'root' }, query: { limit: '3' } })).entries;
    expect(ledger[0]).toMatchObject({ kind: 'referral_reward', ref: 'ann-2', pointsDelta: 21 });
  });
});

describe('returns unwind everything', () => {
  it('a partial return claws back on the remaining net and reverses shares at every level', async () => {
    const r = await ret('cat-r1', 'cat-1', 50000);
    expect(r).toEqual({
      returnId: 'cat-r1', orderId: 'cat-1', memberId: 'cat', clawedBackPoints: 25, restoredPoints: 0, walletRefundCents: 0,
      points: 75, walletBalanceCents: 0, tierId: 'silver', downgradedTo: null,
      referralReversals: [{ memberId: 'ben', points: 3 }, { memberId: 'ann', points: 1 }, { memberId: 'root', points: 1 }],
      replayed: false,
    });
    await settled({ root: 550, ann: 543, ben: 372, cat: 75 });
  });

  it('replays a return and refuses one larger than what remains', async () => {
    const again = await ret('cat-r1', 'cat-1', 50000);
    expect(again).toMatchObject({ replayed: true, clawedBackPoints: 25, points: 75 });
    expect(await refusal(ret('cat-r2', 'cat-1', 50001))).toMatchObject({ status: 422, code: 'return_exceeds_order', field: 'amountCents' });
    expect(await refusal(ret('x-r', 'no-such-order', 1))).toMatchObject({ status: 404, code: 'order_not_found' });
    await settled({ root: 550, ann: 543, ben: 372, cat: 75 });
  });

  it('the full return reverses the rest, fixed rewards included, and shows on the order', async () => {
    const r = await ret('cat-r2', 'cat-1', 50000);
    expect(r).toMatchObject({ clawedBackPoints: 25, points: 50 });
    expect(r.referralReversals).toEqual([{ memberId: 'ben', points: 202 }, { memberId: 'ann', points: 101 }, { memberId: 'root', points: 50 }]);
    await settled({ root: 500, ann: 442, ben: 170, cat: 50 });
    const order = (await server.call('GET /v1/orders/:id', { params: { id: 'cat-1' } }));
    expect(order.returns.map((x) => [x.returnId, x.amountCents])).toEqual([['cat-r1', 50000], ['cat-r2', 50000]]);
    expect(order.remainingCents).toBe(0);
  });

  it('once every purchase is fully returned, the next one is a first purchase again', async () => {
    const c = await buy('cat-2', 'cat', 20000);
    expect(c).toMatchObject({ earnedPoints: 10 });
    expect(c.referralRewards).toEqual([{ memberId: 'ben', points: 201 }, { memberId: 'ann', points: 100 }, { memberId: 'root', points: 50 }]);
    await settled({ root: 550, ann: 542, ben: 371, cat: 60 });
  });

  it('restores redeemed points in proportion and refunds the wallet first', async () => {
    await server.call('POST /v1/members', { body: { memberId: 'dee' } });
    await server.call('POST /v1/wallet/topups', { body: { requestId: 'dee-t', memberId: 'dee', amountCents: 10000 } });
    await server.call('POST /v1/points/adjustments', { body: { requestId: 'dee-a', memberId: 'dee', points: 100, reason: 'welcome' } });
    const p = await server.call('POST /v1/purchases', { body: { orderId: 'dee-1', memberId: 'dee', amountCents: 30000, redeemPoints: 50, walletCents: 5000 } });
    expect(p).toMatchObject({ netCents: 29500, earnedPoints: 14, points: 64, walletBalanceCents: 5000 });
    const r1 = await ret('dee-r1', 'dee-1', 10000);
    expect(r1).toMatchObject({ clawedBackPoints: 5, restoredPoints: 16, walletRefundCents: 5000, points: 75, walletBalanceCents: 10000 });
    const r2 = await ret('dee-r2', 'dee-1', 19500);
    // Partial returns sum exactly to a full one: everything is back as before the purchase.
    expect(r2).toMatchObject({ clawedBackPoints: 9, restoredPoints: 34, walletRefundCents: 0, points: 100, walletBalanceCents: 10000 });
    const m = (await server.call('GET /v1/members/:id', { params: { id: 'dee' } }));
    expect(m).toMatchObject({ points: 100, walletCents: 10000, growth: 0, lifetimeSpendCents: 0 });
  });

  it('returns an order paid wholly with points with amountCents 0, once, and refuses 0 for any other', async () => {
    await server.call('POST /v1/members', { body: { memberId: 'zed' } });
    await server.call('POST /v1/points/adjustments', { body: { requestId: 'zed-a', memberId: 'zed', points: 100, reason: 'gift' } });
    const p = await server.call('POST /v1/purchases', { body: { orderId: 'zed-1', memberId: 'zed', amountCents: 1000, redeemPoints: 100 } });
    expect(p).toMatchObject({ netCents: 0, redeemValueCents: 1000, points: 0 });
    const r = await ret('zed-r1', 'zed-1', 0);
    expect(r).toMatchObject({ restoredPoints: 100, clawedBackPoints: 0, points: 100 });
    expect(await refusal(ret('zed-r2', 'zed-1', 0))).toMatchObject({ status: 400, code: 'invalid_request', field: 'amountCents' });
    expect(await refusal(ret('zed-r3', 'dee-1', 0))).toMatchObject({ status: 400, code: 'invalid_request', field: 'amountCents' });
    expect((await server.call('GET /v1/members/:id', { params: { id: 'zed' } })).points).toBe(100);
  });

  it('undoes an express upgrade when the order falls below the express threshold', async () => {
    await server.call('POST /v1/members', { body: { memberId: 'eve' } });
    const p = await buy('eve-1', 'eve', 500000);
    expect(p).toMatchObject({ tierId: 'gold', upgradedTo: 'gold', earnedPoints: 250 });
    const r = await ret('eve-r1', 'eve-1', 1);
    // 4,999.99 is no longer express, but still crosses Silver's $1,000: Silver from the order's time.
    expect(r).toMatchObject({ clawedBackPoints: 1, points: 249, tierId: 'silver', downgradedTo: 'silver' });
    const m = (await server.call('GET /v1/members/:id', { params: { id: 'eve' } }));
    expect(m).toMatchObject({ tierId: 'silver', periodMetric: 399999, periodStart: m.firstPurchaseAt });
    const r2 = await ret('eve-r2', 'eve-1', 499999);
    expect(r2).toMatchObject({ tierId: 'silver', downgradedTo: null, points: 0 });
    expect((await server.call('GET /v1/admin/verify')).ok).toBe(true);
  });
});

describe('wallet transfers', () => {
  it('moves money between members on different shards exactly once', async () => {
    const from = 'ann';
    const to = ids.find((id) => hashId(id) % SHARDS !== hashId(from) % SHARDS)!;
    await server.call('POST /v1/wallet/topups', { body: { requestId: 'ann-top', memberId: from, amountCents: 20000 } });
    const before = (await server.call('GET /v1/members/:id', { params: { id: to } })).walletCents;
    const t = await server.call('POST /v1/wallet/transfers', { body: { requestId: 'tr-1', fromMemberId: from, toMemberId: to, amountCents: 7500 } });
    expect(t).toMatchObject({ fromMemberId: from, toMemberId: to, amountCents: 7500, walletBalanceCents: 12500 });
    const again = await server.call('POST /v1/wallet/transfers', { body: { requestId: 'tr-1', fromMemberId: from, toMemberId: to, amountCents: 7500 } });
    expect(again.replayed).toBe(true);
    const deadline = Date.now() + 5_000;
    while ((await server.call('GET /v1/members/:id', { params: { id: to } })).walletCents !== before + 7500 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect((await server.call('GET /v1/members/:id', { params: { id: to } })).walletCents).toBe(before + 7500);
    expect((await server.call('GET /v1/members/:id', { params: { id: from } })).walletCents).toBe(12500);
  });

  it('refuses an overdraft, a missing target and a transfer to oneself, changing nothing', async () => {
    const transfer = (requestId: string, toMemberId: string, amountCents: number) =>
      refusal(server.call('POST /v1/wallet/transfers', { body: { requestId, fromMemberId: 'ann', toMemberId, amountCents } }));
    expect(await transfer('tr-2', 'ben', 12501)).toMatchObject({ status: 422, code: 'insufficient_wallet' });
    expect(await transfer('tr-3', 'ghost', 1)).toMatchObject({ status: 404, code: 'member_not_found', field: 'toMemberId' });
    expect(await transfer('tr-4', 'ann', 1)).toMatchObject({ status: 400, code: 'invalid_request' });
    expect((await server.call('GET /v1/members/:id', { params: { id: 'ann' } })).walletCents).toBe(12500);
  });
});

describe('GET /v1/reports/referrals/{memberId}', () => {
  it('lists referred members per level and the points earned from each level', async () => {
    const r = await server.call('GET /v1/reports/referrals/:id', { params: { id: 'root' } });
    expect(r).toEqual({
      memberId: 'root',
      levels: [
        // Level 1 (ann): 100 registration + 203 first + 21 repeat.
        { level: 1, members: ['ann'], points: 324 },
        // Level 2 (ben): 50 + 101.
        { level: 2, members: ['ben'], points: 151 },
        // Level 3 (cat): 25 + 51 - 1 - 50 + 50.
        { level: 3, members: ['cat'], points: 75 },
      ],
    });
  });
});
