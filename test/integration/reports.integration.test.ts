// Reports against hand-computed figures: the summary's totals are kept per shard in the batch's
// own transaction, and verify recounts them from the members.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerProcess } from '../helpers/server-process.js';

const server = new ServerProcess(ServerProcess.tempDataDir(), { LOYALTY_SHARDS: '3' });

beforeAll(async () => { await server.start(); });
afterAll(async () => { await server.stop(); server.cleanup(); });

describe('GET /v1/reports/summary', () => {
  it('counts members per tier, outstanding points and wallet, sales and points flows exactly', async () => {
    const ok = async (path: string, body: unknown) => expect((await server.post(path, body)).status).toBeLessThan(300);
    await ok('/v1/members', { memberId: 'sa', points: 100, walletCents: 500 });
    await ok('/v1/members', { memberId: 'sb' });
    await ok('/v1/purchases', { orderId: 's-1', memberId: 'sa', amountCents: 60000 });
    await ok('/v1/purchases', { orderId: 's-2', memberId: 'sa', amountCents: 50000 });
    await ok('/v1/wallet/topups', { requestId: 's-t', memberId: 'sb', amountCents: 100000 });
    await ok('/v1/purchases', { orderId: 's-3', memberId: 'sb', amountCents: 10000 });
    await ok('/v1/points/redemptions', { requestId: 's-r', memberId: 'sa', points: 20 });
    await ok('/v1/points/adjustments', { requestId: 's-a', memberId: 'sb', points: -3, reason: 'correction' });
    // Rejected and replayed requests change no figure.
    expect((await server.post('/v1/purchases', { orderId: 's-4', memberId: 'sb', amountCents: 100, redeemPoints: 50 })).status).toBe(422);
    await ok('/v1/purchases', { orderId: 's-3', memberId: 'sb', amountCents: 10000 });

    const r = await server.get('/v1/reports/summary');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      members: 2,
      membersPerTier: { member: 1, silver: 1 },
      tiers: [{ tierId: 'member', members: 1 }, { tierId: 'silver', members: 1 }, { tierId: 'gold', members: 0 }],
      pointsOutstanding: 137, walletOutstandingCents: 110700,
      purchases: 3, returns: 0, netSalesCents: 120000,
      pointsIssued: 160, pointsRedeemed: 20, pointsExpired: 0, pointsClawedBack: 3,
      topupsCents: 110000,
      couponsIssued: 0, couponsUsed: 0, couponsRestored: 0, couponsExpired: 0, couponsRevoked: 0, couponDiscountCents: 0, pointsPending: 0, pointsPendingCancelled: 0, couponsActive: 0,
    });
    expect(r.body.pointsIssued - r.body.pointsRedeemed - r.body.pointsExpired - r.body.pointsClawedBack).toBe(r.body.pointsOutstanding);
    expect((await server.get('/v1/admin/verify')).body).toMatchObject({ ok: true, members: 2 });
  });
});
