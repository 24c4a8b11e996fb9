// Campaigns over a real server (docs/api.md, Campaigns; docs/rules.md §13): a double-points weekend
// over a backdated week of purchases, exact per day in Hong Kong across local midnight (answers and
// the daily report); a store-only opening campaign with its coupon; SKU points with quantities, in
// the purchase and in the quote; the birthday month against a campaign; full and partial returns of
// campaign orders; and the campaign report over all of it, exact.
//
// The dates are weeks before the test runs, so every purchase is backdated: week C (days −7..−1 from
// Monday A) is the opening week, weeks A and B (days 0..13) the weekend campaign's window.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerProcess, refusal } from '../helpers/server-process.js';
import type { AnswerOf, BodyOf } from '../../client/http.js';

const server = new ServerProcess(ServerProcess.tempDataDir(), { LOYALTY_SWEEP_INTERVAL_MS: '0' });
const DAY_MS = 86_400_000;
/** Hong Kong is UTC+8 all year. */
const HK_OFFSET_MS = 8 * 3_600_000;

/** Monday A at 00:00 UTC of its local date: the Monday of the week that starts at least 21 days before now in Hong Kong. */
const MONDAY_A_MS = (() => {
  const local = new Date(Date.now() + HK_OFFSET_MS - 21 * DAY_MS);
  const midnight = Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate());
  const isoDay = ((local.getUTCDay() + 6) % 7) + 1;
  return midnight - (isoDay - 1) * DAY_MS;
})();
/** The local date `day` days after Monday A. */
const dateOf = (day: number): string => new Date(MONDAY_A_MS + day * DAY_MS).toISOString().slice(0, 10);
/** The instant of local time `time` in Hong Kong on that date. */
const at = (day: number, time = '12:00:00'): string => new Date(Date.parse(`${dateOf(day)}T${time}+08:00`)).toISOString();

const tins = (...quantities: number[]) => quantities.map((qty) => ({ sku: 'TEA-01', qty, amountCents: 5_000 * qty }));

beforeAll(async () => {
  await server.start();
  const program = { ...await server.call('GET /v1/program') } as Record<string, unknown>;
  delete program['version'];
  await server.call('PUT /v1/program', { body: {
    ...program,
    birthday: { bonusPoints: 0, multiplierPct: 150 },
    coupons: [{ id: 'welcome10', name: 'HK$10 off your next visit', discount: { amountCents: 1000 }, validDays: 30 }],
    campaigns: [
      {
        id: 'double-weekend', name: 'Double points weekends', from: dateOf(0), to: dateOf(13), daysOfWeek: [6, 7],
        pointsMultiplierPct: 200, itemPoints: [{ sku: 'TEA-01', points: 50 }],
      },
      {
        id: 'tst-opening', name: 'Tsim Sha Tsui opening week', from: dateOf(-7), to: dateOf(-1), channels: ['offline'],
        storeIds: ['tst'], tiers: ['member', 'silver'], minNetCents: 10_000, bonusPoints: 20, couponTemplateId: 'welcome10',
      },
    ],
  } });
  for (const memberId of ['ann', 'bob', 'carl', 'erin']) await register(memberId);
  await register('dora', { birthday: `1990-${dateOf(12).slice(5, 7)}-15` });
});
afterAll(async () => { await server.stop(); server.cleanup(); });

async function register(memberId: string, extra: Partial<BodyOf<'POST /v1/members'>> = {}): Promise<void> {
  await server.call('POST /v1/members', { body: { memberId, at: at(-30), ...extra } });
}
function buy(memberId: string, orderId: string, when: string, amountCents: number, extra: Partial<BodyOf<'POST /v1/purchases'>> = {}): Promise<AnswerOf<'POST /v1/purchases'>> {
  return server.call('POST /v1/purchases', { body: { orderId, memberId, amountCents, at: when, ...extra } });
}
function giveBack(orderId: string, returnId: string, amountCents: number, when: string): Promise<AnswerOf<'POST /v1/returns'>> {
  return server.call('POST /v1/returns', { body: { returnId, orderId, amountCents, at: when } });
}

describe('a double-points weekend over a backdated week', () => {
  it('doubles exactly the purchases of Saturday and Sunday in Hong Kong, across local midnight, per answer and per day', async () => {
    const week: Array<[number, string, number]> = [
      [0, '12:00:00', 25], [1, '12:00:00', 25], [2, '12:00:00', 25], [3, '12:00:00', 25], [4, '12:00:00', 25],
      // Friday a second before local midnight, then Saturday at it.
      [4, '23:59:59', 25], [5, '00:00:00', 50], [5, '12:00:00', 50], [6, '12:00:00', 50],
      // Sunday a second before local midnight, then Monday at it: in the window, not a weekend day.
      [6, '23:59:59', 50], [7, '00:00:00', 25],
    ];
    let points = 0;
    for (const [k, [day, time, earned]] of week.entries()) {
      const r = await buy('ann', `ann-${k}`, at(day, time), 50_000);
      points += earned;
      expect(r).toMatchObject({ earnedPoints: earned, points, campaigns: earned === 50 ? [{ id: 'double-weekend', points: 25 }] : [] });
    }
    const daily = await server.call('GET /v1/reports/daily', { query: { from: dateOf(0), to: dateOf(7) } });
    expect(daily.days.map((d) => [d.purchases, d.pointsIssued])).toEqual([
      [1, 25], [1, 25], [1, 25], [1, 25], [2, 50], [2, 100], [2, 100], [1, 25],
    ]);
    // The order keeps what applied: M as its rate's multiplier, and the campaign's parts.
    const order = (await server.call('GET /v1/orders/:id', { params: { id: 'ann-6' } }));
    expect(order).toMatchObject({ rate: { multiplierPct: 200 }, campaigns: { baseMultiplierPct: 100, applied: [{ campaignId: 'double-weekend', multiplierPct: 200, bonusPoints: 0, itemPoints: 0, multiplierPoints: 25 }] } });
  });
});

describe('a store-only opening campaign', () => {
  it('adds its bonus and issues its coupon only to in-store orders at tst of its week, its tiers and its minimum net', async () => {
    const before = await buy('bob', 'bob-0', at(-8, '23:59:59'), 15_000, { channel: 'offline', storeId: 'tst' });
    expect(before).toMatchObject({ earnedPoints: 7, campaigns: [], couponsIssued: [] });
    const first = await buy('bob', 'bob-1', at(-7, '00:00:00'), 15_000, { channel: 'offline', storeId: 'tst' });
    expect(first).toMatchObject({ earnedPoints: 27, campaigns: [{ id: 'tst-opening', points: 20 }], couponsSkipped: [] });
    expect(first['couponsIssued']).toMatchObject([{ templateId: 'welcome10', campaignId: 'tst-opening', validFrom: at(-7, '00:00:00') }]);
    const second = await buy('bob', 'bob-2', at(-4), 15_000, { channel: 'offline', storeId: 'tst' });
    expect(second).toMatchObject({ earnedPoints: 27, campaigns: [{ id: 'tst-opening', points: 20 }] });
    const code = (second['couponsIssued'] as Array<{ code: string }>)[0]!.code;
    expect((await server.call('GET /v1/coupons/:code', { params: { code } }))).toMatchObject({ memberId: 'bob', state: 'active', source: 'campaign:tst-opening', orderId: 'bob-2' });
    expect(await buy('bob', 'bob-3', at(-3), 9_999, { channel: 'offline', storeId: 'tst' })).toMatchObject({ earnedPoints: 4, campaigns: [] });
    expect(await buy('bob', 'bob-4', at(-3), 15_000, { channel: 'online', storeId: 'tst' })).toMatchObject({ earnedPoints: 7, campaigns: [] });
    expect(await buy('bob', 'bob-5', at(-3), 15_000, { channel: 'offline' })).toMatchObject({ earnedPoints: 7, campaigns: [], couponsIssued: [] });
    // A full return takes the bonus back with the rest and revokes the unused coupon; a partial one keeps both.
    const full = await giveBack('bob-2', 'bob-2-r', 15_000, at(-2));
    expect(full).toMatchObject({ clawedBackPoints: 27, couponsRevoked: [code] });
    // bob-1 keeps 10,000: floor(10,000 ÷ 2,000) + 20 = 25 points, 2 clawed back.
    expect(await giveBack('bob-1', 'bob-1-r', 5_000, at(-2))).toMatchObject({ clawedBackPoints: 2 });
    expect((await server.call('GET /v1/members/:id', { params: { id: 'bob' } }))).toMatchObject({ points: 7 + 25 + 4 + 7 + 7 });
  });
});

describe('SKU points with quantities', () => {
  it('pays 50 points per tin over every line, in the quote and the purchase alike', async () => {
    const items = [...tins(1, 2), { sku: 'MUG', qty: 1, amountCents: 35_000 }];
    const quote = await server.call('POST /v1/checkout/quote', { body: { memberId: 'carl', amountCents: 50_000, items, at: at(12) } });
    expect(quote).toMatchObject({ pointsToEarn: 200, campaigns: [{ id: 'double-weekend', points: 175 }] });
    const plain = await server.call('POST /v1/checkout/quote', { body: { memberId: 'carl', amountCents: 50_000, at: at(12) } });
    expect(plain).toMatchObject({ pointsToEarn: 50, campaigns: [{ id: 'double-weekend', points: 25 }] });
    const weekday = await server.call('POST /v1/checkout/quote', { body: { memberId: 'carl', amountCents: 50_000, items, at: at(10) } });
    expect(weekday).toMatchObject({ pointsToEarn: 25, campaigns: [] });
    // floor(25 × 200 ÷ 100) + 3 × 50.
    expect(await buy('carl', 'carl-1', at(12), 50_000, { items })).toMatchObject({ earnedPoints: 200, campaigns: [{ id: 'double-weekend', points: 175 }] });
  });
});

describe('the birthday month against a campaign', () => {
  it('gives the larger multiplier: 150% on a weekday of the month, the campaign\'s 200% on its Saturday', async () => {
    // A weekday of the Saturday's month outside the weekend: the Friday before, or the Monday after when Saturday is the 1st.
    const weekday = dateOf(11).slice(0, 7) === dateOf(12).slice(0, 7) ? 11 : 14;
    expect(await buy('dora', 'dora-1', at(weekday), 50_000)).toMatchObject({ earnedPoints: 37, campaigns: [] });
    // floor(25 × 200 ÷ 100) = 50, of which the campaign added 50 − floor(25 × 150 ÷ 100) = 13.
    expect(await buy('dora', 'dora-2', at(12), 50_000)).toMatchObject({ earnedPoints: 50, campaigns: [{ id: 'double-weekend', points: 13 }] });
  });
});

describe('returns of campaign orders', () => {
  it('recompute M on the remaining net and take the tins\' points back with the last return', async () => {
    expect(await buy('erin', 'erin-1', at(13), 50_000, { items: tins(2) })).toMatchObject({ earnedPoints: 150, points: 150 });
    // 30,000 remain: floor(15 × 200 ÷ 100) + 100 = 130.
    expect(await giveBack('erin-1', 'erin-1-a', 20_000, at(13, '18:00:00'))).toMatchObject({ clawedBackPoints: 20, points: 130 });
    expect(await giveBack('erin-1', 'erin-1-b', 30_000, at(13, '19:00:00'))).toMatchObject({ clawedBackPoints: 130, points: 0 });
    const order = (await server.call('GET /v1/orders/:id', { params: { id: 'erin-1' } }));
    expect(order).toMatchObject({ remainingCents: 0, now: { earnedPoints: 0 }, campaigns: { applied: [{ campaignId: 'double-weekend', itemPoints: 100, multiplierPoints: 25 }] } });
  });
});

describe('the campaign report', () => {
  it('gives per campaign the orders placed on the days asked, their net and points, less what returns took back', async () => {
    const r = await server.call('GET /v1/reports/campaigns', { query: { from: dateOf(-7), to: dateOf(13) } });
    expect(r).toEqual({
      from: dateOf(-7), to: dateOf(13), timeZone: 'Asia/Hong_Kong',
      campaigns: [
        // ann's four weekend orders (25 each), carl's (175), dora's (13), erin's (125, all returned).
        { campaignId: 'double-weekend', name: 'Double points weekends', orders: 7, netSalesCents: 350_000, returnedCents: 50_000, extraPoints: 413, extraPointsReturned: 125, couponsIssued: 0 },
        // bob-1 (5,000 returned, its bonus kept) and bob-2 (returned whole).
        { campaignId: 'tst-opening', name: 'Tsim Sha Tsui opening week', orders: 2, netSalesCents: 30_000, returnedCents: 20_000, extraPoints: 40, extraPointsReturned: 20, couponsIssued: 2 },
      ],
      totals: { orders: 9, netSalesCents: 380_000, returnedCents: 70_000, extraPoints: 453, extraPointsReturned: 145, couponsIssued: 2 },
    });
    // The opening week alone; Saturday of week A alone (ann's two orders).
    const opening = await server.call('GET /v1/reports/campaigns', { query: { from: dateOf(-7), to: dateOf(-1) } });
    expect(opening.campaigns.map((c) => c.orders)).toEqual([0, 2]);
    const saturday = await server.call('GET /v1/reports/campaigns', { query: { from: dateOf(5), to: dateOf(5) } });
    expect(saturday.totals).toMatchObject({ orders: 2, netSalesCents: 100_000, extraPoints: 50 });
    const bad = await refusal(server.call('GET /v1/reports/campaigns', { query: { from: dateOf(5) } }));
    expect([bad.status, bad.code, bad.field]).toEqual([400, 'invalid_request', 'to']);
  });
});
