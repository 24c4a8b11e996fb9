// Two years of one member's history with backdated operations (an offline POS syncing late) and
// sweeps at chosen moments: upgrade, birthday gifts once a year, renewal with its bonus, grant by
// grant expiry, redemption from the oldest grant, downgrade, and balances at past moments, exactly.
// Then loyalty products: every include and every refusal.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerProcess, refusal } from '../helpers/server-process.js';

const server = new ServerProcess(ServerProcess.tempDataDir(), { LOYALTY_SWEEP_INTERVAL_MS: '0' });

beforeAll(async () => {
  await server.start();
  const { version: _version, ...program } = await server.call('GET /v1/program');
  program.pointsExpiryDays = 365;
  program.birthday = { bonusPoints: 100, multiplierPct: 200 };
  program.tiers[1]!.retainThreshold = 30000;
  program.tiers[1]!.renewalBonusPoints = 50;
  program.products = [
    { id: 'wallet-500', name: 'Wallet $500', priceCents: 50000, active: true, channels: ['online', 'offline'], eligibleTiers: null, includes: { walletCents: 55000 } },
    { id: 'silver-up', name: 'Silver now', priceCents: 20000, active: true, channels: ['offline'], eligibleTiers: ['member'], includes: { tierId: 'silver', points: 10 } },
    { id: 'gold-pass', name: 'Gold pass', priceCents: 99900, active: true, channels: ['online'], eligibleTiers: null, includes: { forceTierId: 'gold' } },
    { id: 'reset', name: 'Back to member', priceCents: 0, active: true, channels: ['online', 'offline'], eligibleTiers: null, includes: { forceTierId: 'member' } },
    { id: 'extend', name: '30 more days', priceCents: 1000, active: true, channels: ['online', 'offline'], eligibleTiers: null, includes: { extendDays: 30 } },
    { id: 'retired', name: 'Old offer', priceCents: 100, active: false, channels: ['online', 'offline'], eligibleTiers: null, includes: { points: 5 } },
  ];
  await server.call('PUT /v1/program', { body: program });
});
afterAll(async () => { await server.stop(); server.cleanup(); });

const member = async (id: string) => (await server.call('GET /v1/members/:id', { params: { id } }));
const balanceAt = async (at: string) => (await server.call('GET /v1/members/:id/balance', { params: { id: 'tim' }, query: { at } }));
const sweep = async (asOf: string) => (await server.call('POST /v1/admin/sweep', { body: { asOf } }));

describe('two years of one member', () => {
  it('registers late in the year: this year\'s birthday has passed, so the first gift is next year', async () => {
    await server.call('POST /v1/members', { body: { memberId: 'tim', birthday: '1990-03-15', at: '2024-11-01T00:00:00Z' } });
  });

  it('upgrades to Silver with a period and a points grant of one year each', async () => {
    const r = await server.call('POST /v1/purchases', { body: { orderId: 't-1', memberId: 'tim', amountCents: 120000, at: '2024-11-10T00:00:00Z' } });
    expect(r).toMatchObject({ earnedPoints: 60, points: 60, tierId: 'silver', upgradedTo: 'silver' });
    const m = await member('tim');
    expect(m).toMatchObject({ periodStart: '2024-11-10T00:00:00.000Z', periodEnd: '2025-11-10T00:00:00.000Z', periodMetric: 20000 });
    expect(m.pointsExpiring).toEqual([{ at: '2025-11-10T00:00:00.000Z', points: 60 }]);
  });

  it('pays the birthday gift (dated at the birthday, in Hong Kong time) before a late-synced purchase, which earns double', async () => {
    const r = await server.call('POST /v1/purchases', { body: { orderId: 't-2', memberId: 'tim', amountCents: 20000, at: '2025-03-20T00:00:00Z' } });
    expect(r).toMatchObject({ earnedPoints: 20, points: 180 });
    const ledger = (await server.call('GET /v1/members/:id/ledger', { params: { id: 'tim' }, query: { limit: '2' } })).entries;
    expect(ledger[1]).toMatchObject({ kind: 'birthday', at: '2025-03-14T16:00:00.000Z', pointsDelta: 100 });
  });

  it('renews Silver at the period end (metric above the retain threshold) and expires the first grant', async () => {
    expect(await sweep('2025-11-10T00:00:00Z')).toEqual({ asOf: '2025-11-10T00:00:00.000Z', members: 1 });
    const m = await member('tim');
    expect(m).toMatchObject({ tierId: 'silver', points: 170, periodStart: '2025-11-10T00:00:00.000Z', periodEnd: '2026-11-10T00:00:00.000Z', periodMetric: 0 });
    // Sweeping again as of the same moment changes nothing.
    expect(await sweep('2025-11-10T00:00:00Z')).toEqual({ asOf: '2025-11-10T00:00:00.000Z', members: 0 });
    expect((await member('tim')).points).toBe(170);
  });

  it('expires last year\'s gift and pays this year\'s, once', async () => {
    await sweep('2026-03-15T00:00:00Z');
    await sweep('2026-03-16T00:00:00Z');
    const m = await member('tim');
    expect(m.points).toBe(170);
    expect(m.pointsExpiring).toEqual([
      { at: '2026-03-20T00:00:00.000Z', points: 20 },
      { at: '2026-11-10T00:00:00.000Z', points: 50 },
      { at: '2027-03-14T16:00:00.000Z', points: 100 },
    ]);
  });

  it('expires a grant due before a late redemption, then redeems from the oldest remaining grant', async () => {
    const r = await server.call('POST /v1/points/redemptions', { body: { requestId: 't-r', memberId: 'tim', points: 30, at: '2026-04-01T00:00:00Z' } });
    expect(r).toMatchObject({ points: 120, walletCreditCents: 300, walletBalanceCents: 300 });
    expect((await member('tim')).pointsExpiring).toEqual([
      { at: '2026-11-10T00:00:00.000Z', points: 20 },
      { at: '2027-03-14T16:00:00.000Z', points: 100 },
    ]);
  });

  it('downgrades at the next period end without enough spend, and expires the rest of the renewal bonus', async () => {
    await sweep(new Date().toISOString());
    const m = await member('tim');
    expect(m).toMatchObject({ tierId: 'member', points: 100, periodEnd: null });
    const kinds = (await server.call('GET /v1/members/:id/ledger', { params: { id: 'tim' }, query: { limit: '100' } })).entries.map((e: { kind: string }) => e.kind).reverse();
    // Each grant still holding points gets its notice 7 days (notifyExpiringDays) before it expires.
    expect(kinds).toEqual([
      'register', 'purchase', 'upgrade', 'birthday', 'purchase', 'points_expiring', 'renew', 'expire', 'points_expiring', 'points_expiring',
      'expire', 'birthday', 'expire', 'redeem', 'points_expiring', 'downgrade', 'expire',
    ]);
  });

  it('answers balances at chosen past moments exactly', async () => {
    const at = async (t: string) => { const b = await balanceAt(t); return [b.points, b.walletCents]; };
    expect(await at('2024-11-09T23:59:59Z')).toEqual([0, 0]);
    expect(await at('2024-11-10T00:00:00Z')).toEqual([60, 0]);
    expect(await at('2025-03-15T00:00:00Z')).toEqual([160, 0]);
    expect(await at('2025-03-20T00:00:00Z')).toEqual([180, 0]);
    expect(await at('2025-11-09T23:59:59Z')).toEqual([180, 0]);
    expect(await at('2025-11-10T00:00:00Z')).toEqual([170, 0]);
    expect(await at('2026-03-14T16:00:00Z')).toEqual([170, 0]);
    expect(await at('2026-03-20T00:00:00Z')).toEqual([150, 0]);
    expect(await at('2026-04-01T00:00:00Z')).toEqual([120, 300]);
    expect(await at('2026-11-10T00:00:00Z')).toEqual([100, 300]);
    expect((await balanceAt('2025-03-20T00:00:00Z')).growth).toBe(80);
  });

  it('keeps the ledger fold and the summary consistent', async () => {
    expect((await server.call('GET /v1/admin/verify'))).toMatchObject({ ok: true, mismatches: [] });
    const s = (await server.call('GET /v1/reports/summary'));
    expect(s.pointsExpired).toBe(60 + 100 + 20 + 20);
    // Totals are integers while they are safe integers (decimal strings past 2^53 − 1).
    const n = (count: number | string) => Number(count);
    expect(n(s.pointsIssued) - n(s.pointsRedeemed) - n(s.pointsExpired) - n(s.pointsClawedBack)).toBe(s.pointsOutstanding);
  });
});

describe('loyalty products', () => {
  let posKey = '';
  let shopKey = '';
  const buy = (orderId: string, productId: string, key: string) =>
    server.client(key).call('POST /v1/product-purchases', { body: { orderId, memberId: 'pam', productId } });

  it('adds wallet value, and earns nothing and counts as no spend', async () => {
    posKey = (await server.call('POST /v1/admin/keys', { body: { role: 'pos' } })).key;
    shopKey = (await server.call('POST /v1/admin/keys', { body: { role: 'storefront' } })).key;
    await server.call('POST /v1/members', { body: { memberId: 'pam' } });
    const r = await buy('p-1', 'wallet-500', posKey);
    expect(r).toMatchObject({ walletCreditCents: 55000, walletBalanceCents: 55000, points: 0, tierId: 'member' });
    expect(await member('pam')).toMatchObject({ lifetimeSpendCents: 0, purchaseCount: 0 });
  });

  it('upgrades a tier with points, for eligible tiers on its channel only', async () => {
    const r = await buy('p-2', 'silver-up', posKey);
    expect(r).toMatchObject({ tierChangedTo: 'silver', tierId: 'silver', points: 10, pointsAdded: 10 });
    expect((await member('pam')).periodEnd).not.toBeNull();
    expect(await refusal(buy('p-3', 'silver-up', posKey))).toMatchObject({ status: 422, code: 'tier_not_eligible' });
    const replay = await buy('p-2', 'silver-up', posKey);
    expect(replay).toMatchObject({ replayed: true, tierChangedTo: 'silver' });
  });

  it('forces a tier up or down, on the product\'s channel', async () => {
    expect((await refusal(buy('p-4', 'gold-pass', posKey))).code).toBe('channel_not_allowed');
    const online = await buy('p-5', 'gold-pass', shopKey);
    expect(online).toMatchObject({ tierId: 'gold' });
    const down = await buy('p-6', 'reset', shopKey);
    expect(down).toMatchObject({ tierId: 'member', periodEnd: null });
    await buy('p-7', 'gold-pass', shopKey);
  });

  it('extends the period', async () => {
    const before = (await member('pam')).periodEnd;
    const r = await buy('p-8', 'extend', shopKey);
    expect(new Date(r.periodEnd!).getTime() - new Date(before!).getTime()).toBe(30 * 86_400_000);
  });

  it('refuses inactive and unknown products, changing nothing', async () => {
    const before = await member('pam');
    expect((await refusal(buy('p-9', 'retired', shopKey))).code).toBe('product_inactive');
    expect(await refusal(buy('p-10', 'nope', shopKey))).toMatchObject({ status: 404, code: 'product_not_found' });
    expect(await member('pam')).toEqual(before);
    expect((await server.call('GET /v1/admin/verify')).ok).toBe(true);
  });
});
