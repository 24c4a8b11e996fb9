// Reports against hand-computed figures: the summary's totals are kept per shard in the batch's
// own transaction, and verify recounts them from the members.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerProcess, refusal } from '../helpers/server-process.js';

const server = new ServerProcess(ServerProcess.tempDataDir(), { LOYALTY_SHARDS: '3' });

beforeAll(async () => { await server.start(); });
afterAll(async () => { await server.stop(); server.cleanup(); });

describe('GET /v1/reports/summary', () => {
  it('counts members per tier, outstanding points and wallet, sales and points flows exactly', async () => {
    await server.call('POST /v1/members', { body: { memberId: 'sa', points: 100, walletCents: 500 } });
    await server.call('POST /v1/members', { body: { memberId: 'sb' } });
    await server.call('POST /v1/purchases', { body: { orderId: 's-1', memberId: 'sa', amountCents: 60000 } });
    await server.call('POST /v1/purchases', { body: { orderId: 's-2', memberId: 'sa', amountCents: 50000 } });
    await server.call('POST /v1/wallet/topups', { body: { requestId: 's-t', memberId: 'sb', amountCents: 100000 } });
    await server.call('POST /v1/purchases', { body: { orderId: 's-3', memberId: 'sb', amountCents: 10000 } });
    await server.call('POST /v1/points/redemptions', { body: { requestId: 's-r', memberId: 'sa', points: 20 } });
    await server.call('POST /v1/points/adjustments', { body: { requestId: 's-a', memberId: 'sb', points: -3, reason: 'correction' } });
    // Rejected and replayed requests change no figure.
    expect((await refusal(server.call('POST /v1/purchases', { body: { orderId: 's-4', memberId: 'sb', amountCents: 100, redeemPoints: 50 } }))).status).toBe(422);
    expect((await server.call('POST /v1/purchases', { body: { orderId: 's-3', memberId: 'sb', amountCents: 10000 } })).replayed).toBe(true);

    const summary = await server.call('GET /v1/reports/summary');
    expect(summary).toEqual({
      members: 2,
      membersPerTier: { member: 1, silver: 1 },
      tiers: [{ tierId: 'member', members: 1 }, { tierId: 'silver', members: 1 }, { tierId: 'gold', members: 0 }],
      pointsOutstanding: 137, walletOutstandingCents: 110700,
      purchases: 3, returns: 0, netSalesCents: 120000,
      pointsIssued: 160, pointsRedeemed: 20, pointsExpired: 0, pointsClawedBack: 3,
      topupsCents: 110000,
      couponsIssued: 0, couponsUsed: 0, couponsRestored: 0, couponsExpired: 0, couponsRevoked: 0, couponDiscountCents: 0, pointsPending: 0, pointsPendingCancelled: 0, couponsActive: 0,
    });
    // Totals are integers while they are safe integers (decimal strings past 2^53 − 1).
    const n = (count: number | string) => Number(count);
    expect(n(summary.pointsIssued) - n(summary.pointsRedeemed) - n(summary.pointsExpired) - n(summary.pointsClawedBack)).toBe(summary.pointsOutstanding);
    expect(await server.call('GET /v1/admin/verify')).toMatchObject({ ok: true, members: 2 });
  });
});
