// The daily and RFM reports on a real server against hand-computed figures. Every write carries an
// explicit past `at` (the demo program's zone is Asia/Hong_Kong, UTC+8), so local days differ from
// UTC days where it matters: 00:30 on 11 March in Hong Kong is still 10 March in UTC.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerProcess, refusal } from '../helpers/server-process.js';

const daily = new ServerProcess(ServerProcess.tempDataDir());
const rfm = new ServerProcess(ServerProcess.tempDataDir());

beforeAll(async () => { await Promise.all([daily.start(), rfm.start()]); });
afterAll(async () => {
  await Promise.all([daily.stop(), rfm.stop()]);
  daily.cleanup();
  rfm.cleanup();
});


const zero = { newMembers: 0, purchases: 0, returns: 0, netSalesCents: 0, pointsIssued: 0, pointsRedeemed: 0, topups: 0, topupsCents: 0, pointsPending: 0, pointsPendingCancelled: 0 };

describe('GET /v1/reports/daily', () => {
  beforeAll(async () => {
    const s = daily;
    await s.call('POST /v1/members', { body: { memberId: 'd1', points: 100, at: '2025-03-10T09:00:00+08:00' } });
    await s.call('POST /v1/members', { body: { memberId: 'd2', at: '2025-03-10T23:30:00+08:00' } });
    // 10 March 16:30 UTC: the 11th in Hong Kong. 60,000 cents at 1 point per 2,000 earns 30.
    await s.call('POST /v1/purchases', { body: { orderId: 'dp1', memberId: 'd1', amountCents: 60000, at: '2025-03-11T00:30:00+08:00' } });
    // 50 points redeemed are worth 500 cents: net 19,500 earns 9.
    expect(await s.call('POST /v1/purchases', { body: { orderId: 'dp2', memberId: 'd1', amountCents: 20000, redeemPoints: 50, at: '2025-03-11T12:00:00+08:00' } }))
      .toMatchObject({ netCents: 19500, earnedPoints: 9, redeemedPoints: 50 });
    // 1,000 dollars topped up earn the demo program's 100 dollar bonus.
    await s.call('POST /v1/wallet/topups', { body: { requestId: 'dt1', memberId: 'd2', amountCents: 100000, at: '2025-03-12T10:00:00+08:00' } });
    await s.call('POST /v1/points/redemptions', { body: { requestId: 'dr1', memberId: 'd1', points: 20, at: '2025-03-12T11:00:00+08:00' } });
    await s.call('POST /v1/returns', { body: { returnId: 'dret1', orderId: 'dp1', amountCents: 10000, at: '2025-03-12T12:00:00+08:00' } });
    await s.call('POST /v1/points/adjustments', { body: { requestId: 'da1', memberId: 'd2', points: 7, reason: 'goodwill', at: '2025-03-12T13:00:00+08:00' } });
    await s.call('POST /v1/members', { body: { memberId: 'd3', at: '2025-03-13T01:00:00+08:00' } });
    // Refused and replayed writes add nothing.
    expect((await refusal(s.call('POST /v1/purchases', { body: { orderId: 'dp3', memberId: 'd2', amountCents: 100, redeemPoints: 5000, at: '2025-03-11T13:00:00+08:00' } }))).status).toBe(422);
    await s.call('POST /v1/purchases', { body: { orderId: 'dp1', memberId: 'd1', amountCents: 60000, at: '2025-03-11T00:30:00+08:00' } });
  });

  it('counts each local day exactly, zero days included', async () => {
    const r = await daily.call('GET /v1/reports/daily', { query: { from: '2025-03-10', to: '2025-03-12' } });
    expect(r).toEqual({
      from: '2025-03-10', to: '2025-03-12', timeZone: 'Asia/Hong_Kong',
      days: [
        { date: '2025-03-10', ...zero, newMembers: 2, pointsIssued: 100 },
        { date: '2025-03-11', ...zero, purchases: 2, netSalesCents: 79500, pointsIssued: 39, pointsRedeemed: 50 },
        { date: '2025-03-12', ...zero, returns: 1, netSalesCents: -10000, pointsIssued: 7, pointsRedeemed: 20, topups: 1, topupsCents: 110000 },
      ],
      totals: { newMembers: 2, purchases: 2, returns: 1, netSalesCents: 69500, pointsIssued: 146, pointsRedeemed: 70, topups: 1, topupsCents: 110000, pointsPending: 0, pointsPendingCancelled: 0 },
    });
  });

  it('agrees with the summary over all days and leaves out days outside the range', async () => {
    const r = await daily.call('GET /v1/reports/daily', { query: { from: '2025-03-09', to: '2025-03-13' } });
    expect(r.days.map((d) => d.date)).toEqual(['2025-03-09', '2025-03-10', '2025-03-11', '2025-03-12', '2025-03-13']);
    expect(r.days[0]).toEqual({ date: '2025-03-09', ...zero });
    expect(r.days[4]).toEqual({ date: '2025-03-13', ...zero, newMembers: 1 });
    const summary = await daily.call('GET /v1/reports/summary');
    expect(r.totals).toMatchObject({ purchases: summary.purchases, returns: summary.returns, netSalesCents: summary.netSalesCents, pointsIssued: summary.pointsIssued, topupsCents: summary.topupsCents });
    // The summary's redeemed is net of points a return gives back; none were given back here.
    expect(r.totals.pointsRedeemed).toBe(summary.pointsRedeemed);
    expect((await daily.call('GET /v1/reports/daily', { query: { from: '2025-03-11', to: '2025-03-11' } })).totals).toEqual({ ...zero, purchases: 2, netSalesCents: 79500, pointsIssued: 39, pointsRedeemed: 50 });
  });

  it('refuses missing, impossible and reversed dates and over-long ranges, naming the field', async () => {
    const bad = async (query: string, field: string) => {
      const e = await refusal(daily.call('GET /v1/reports/daily', { query: Object.fromEntries(new URLSearchParams(query)) }));
      expect(e, query).toMatchObject({ status: 400, code: 'invalid_request', field });
    };
    await bad('to=2025-03-12', 'from');
    await bad('from=2025-02-30&to=2025-03-12', 'from');
    await bad('from=2025-03-12&to=12-03-2025', 'to');
    await bad('from=2025-03-12&to=2025-03-11', 'to');
    await bad('from=2000-01-01&to=2025-03-11', 'to');
  });
});

describe('GET /v1/reports/rfm', () => {
  const asOf = '2025-06-01T00:00:00+08:00';
  beforeAll(async () => {
    const s = rfm;
    const old = '2025-01-01T10:00:00+08:00';
    for (const id of ['c1', 'c2', 'l1', 'a1', 'h1', 'h2', 'o1']) await s.call('POST /v1/members', { body: { memberId: id, at: old } });
    await s.call('POST /v1/members', { body: { memberId: 'n1', at: '2025-05-20T10:00:00+08:00' } });
    await s.call('POST /v1/members', { body: { memberId: 'n2', at: '2025-05-25T10:00:00+08:00' } });
    // Registered after asOf: not part of that day's report.
    await s.call('POST /v1/members', { body: { memberId: 'late', at: '2025-07-01T10:00:00+08:00' } });
    const buys: Array<[string, number, string]> = [
      ['c1', 30000, '2025-04-01'], ['c1', 30000, '2025-05-01'], ['c1', 30000, '2025-05-30'],
      ['c2', 25000, '2025-04-02'], ['c2', 25000, '2025-05-02'], ['c2', 25000, '2025-05-27'],
      ['l1', 15000, '2025-04-12'], ['l1', 15000, '2025-05-12'],
      ['a1', 20000, '2025-01-21'], ['a1', 20000, '2025-02-01'], ['a1', 20000, '2025-02-21'],
      ['h1', 10000, '2025-02-01'],
      ['o1', 2000, '2025-05-31'],
      ['n2', 5000, '2025-05-26'],
    ];
    let i = 0;
    for (const [memberId, amountCents, day] of buys) {
      await s.call('POST /v1/purchases', { body: { orderId: `rp${i++}`, memberId, amountCents, at: `${day}T00:00:00+08:00` } });
    }
  });

  it('scores by quintile across all members and puts each in its segment', async () => {
    const report = await rfm.call('GET /v1/reports/rfm', { query: { asOf } });
    // Nine members; a score is 1 + floor(5 × members strictly worse / 9) (README, Reports).
    const m = (memberId: string, recencyDays: number | null, frequency: number, monetaryCents: number, r: number, f: number, mm: number) =>
      ({ memberId, recencyDays, frequency, monetaryCents, r, f, m: mm });
    expect(report).toEqual({
      asOf: '2025-05-31T16:00:00.000Z',
      members: 9,
      segments: {
        champions: { count: 2, members: [m('c1', 2, 3, 90000, 4, 4, 5), m('c2', 5, 3, 75000, 4, 4, 4)] },
        loyal: { count: 1, members: [m('l1', 20, 2, 30000, 3, 3, 3)] },
        at_risk: { count: 1, members: [m('a1', 100, 3, 60000, 2, 4, 4)] },
        hibernating: { count: 2, members: [m('h1', 120, 1, 10000, 2, 2, 3), m('h2', null, 0, 0, 1, 1, 1)] },
        new: { count: 2, members: [m('n1', null, 0, 0, 1, 1, 1), m('n2', 6, 1, 5000, 3, 2, 2)] },
        others: { count: 1, members: [m('o1', 1, 1, 2000, 5, 2, 2)] },
      },
    });
  });

  it('lists one segment when asked, with every segment still counted', async () => {
    const r = await rfm.call('GET /v1/reports/rfm', { query: { asOf, segment: 'at_risk' } });
    expect(r.segments.at_risk.members?.map((x) => x.memberId)).toEqual(['a1']);
    expect(r.segments.champions).toEqual({ count: 2 });
    expect(await refusal(rfm.call('GET /v1/reports/rfm', { query: { segment: 'sleepy' } }))).toMatchObject({ status: 400, code: 'invalid_request', field: 'segment' });
    expect(await refusal(rfm.call('GET /v1/reports/rfm', { query: { asOf: 'yesterday' } }))).toMatchObject({ status: 400, code: 'invalid_request', field: 'asOf' });
  });
});
