// The read side of coupons over a real server (2 shards): coupons issued by the welcome rule and by
// hand, used on purchases, given back by a full return, revoked and expired by the sweep, then the
// coupon report over local dates, the summary, the CSV export, the member view and verify, each
// against figures worked out by hand below.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { ServerProcess, refusal } from '../helpers/server-process.js';

const server = new ServerProcess(ServerProcess.tempDataDir(), { LOYALTY_SHARDS: '2' });

/** Each member's welcome coupon, and the two coupons issued by hand. */
const W: Record<string, string> = {};
const P: Record<string, string> = {};

beforeAll(async () => {
  await server.start();
  const program = await server.call('GET /v1/program');
  await server.call('PUT /v1/program', { body: {
    ...program,
    coupons: [
      { id: 'welcome10', name: 'HK$10 off', discount: { amountCents: 1000 }, validDays: 3650 },
      { id: 'pct10', name: '10% off', discount: { percentBps: 1000, maxCents: 5000 }, validDays: 10 },
    ],
    couponRules: [{ id: 'welcome', trigger: 'register', templateId: 'welcome10' }],
  } });
  // Hong Kong: 1 March 2025 at 10:00.
  for (const memberId of ['ann', 'bob', 'cat', 'dan']) {
    const reg = await server.call('POST /v1/members', { body: { memberId, at: '2025-03-01T02:00:00Z' } });
    const issued = reg.couponsIssued ?? [];
    expect(issued.map((c) => c.templateId)).toEqual(['welcome10']);
    W[memberId] = issued[0]!.code;
  }
  for (const memberId of ['ann', 'bob']) {
    const r = await server.call('POST /v1/coupons/issue', { body: { requestId: `p-${memberId}`, templateId: 'pct10', memberId, at: '2025-03-02T02:00:00Z' } });
    P[memberId] = r.code;
  }
  // Ann's welcome takes HK$10 off; Bob's two take HK$10 and 10% of HK$300 (capped at HK$50).
  expect(await server.call('POST /v1/purchases', { body: { orderId: 'o-1', memberId: 'ann', amountCents: 20000, couponCodes: [W['ann']!], at: '2025-03-05T02:00:00Z' } }))
    .toMatchObject({ netCents: 19000, couponDiscountCents: 1000 });
  expect(await server.call('POST /v1/purchases', { body: { orderId: 'o-2', memberId: 'bob', amountCents: 30000, couponCodes: [W['bob']!, P['bob']!], at: '2025-03-06T02:00:00Z' } }))
    .toMatchObject({ netCents: 26000, couponDiscountCents: 4000 });
  // A full return gives Ann's welcome back; Cat's is revoked; the sweep expires Ann's 10% (valid through 12 March).
  await server.call('POST /v1/returns', { body: { returnId: 'r-1', orderId: 'o-1', amountCents: 19000, at: '2025-03-07T02:00:00Z' } });
  await server.call('POST /v1/coupons/:code/revoke', { params: { code: W['cat']! }, body: { requestId: 'rv-cat', at: '2025-03-08T02:00:00Z' } });
  await server.call('POST /v1/admin/sweep', { body: { asOf: '2025-03-20T00:00:00Z' } });
  // Ann uses her welcome again in April, after the report's window.
  expect(await server.call('POST /v1/purchases', { body: { orderId: 'o-3', memberId: 'ann', amountCents: 5000, couponCodes: [W['ann']!], at: '2025-04-02T02:00:00Z' } }))
    .toMatchObject({ netCents: 4000, couponDiscountCents: 1000 });
}, 60_000);
afterAll(async () => { await server.stop(); server.cleanup(); });

describe('the coupon read side over a server', () => {
  it('GET /v1/reports/coupons: each template\'s exact figures over local dates', async () => {
    const r = await server.call('GET /v1/reports/coupons', { query: { from: '2025-03-01', to: '2025-03-31' } });
    expect(r).toEqual({
      from: '2025-03-01', to: '2025-03-31', timeZone: 'Asia/Hong_Kong',
      templates: [
        // Four welcomes issued; used by Ann (5 March) and Bob; Ann's given back; Cat's revoked;
        // Dan's active now. Of the four, Ann's and Bob's are used now; the discount counts Bob's
        // only, Ann's current use being in April.
        { templateId: 'welcome10', name: 'HK$10 off', issued: 4, used: 2, restored: 1, expired: 0, revoked: 1, activeNow: 1, discountCents: 1000, issuedUsed: 2, useRate: 0.5 },
        // Two issued; Bob's used (HK$30), Ann's expired at the end of 12 March.
        { templateId: 'pct10', name: '10% off', issued: 2, used: 1, restored: 0, expired: 1, revoked: 0, activeNow: 0, discountCents: 3000, issuedUsed: 1, useRate: 0.5 },
      ],
      totals: { issued: 6, used: 3, restored: 1, expired: 1, revoked: 1, activeNow: 1, discountCents: 4000, issuedUsed: 3, useRate: 0.5 },
    });
    const april = await server.call('GET /v1/reports/coupons', { query: { from: '2025-04-01', to: '2025-04-30' } });
    expect(april.templates[0]).toEqual({ templateId: 'welcome10', name: 'HK$10 off', issued: 0, used: 1, restored: 0, expired: 0, revoked: 0, activeNow: 1, discountCents: 1000, issuedUsed: 0, useRate: null });
    // The expiry at 16:00 UTC on 12 March is 13 March in Hong Kong: a report of 1–12 March lacks it.
    const early = await server.call('GET /v1/reports/coupons', { query: { from: '2025-03-01', to: '2025-03-12' } });
    expect(early.templates[1]).toMatchObject({ templateId: 'pct10', expired: 0 });
    const late = await server.call('GET /v1/reports/coupons', { query: { from: '2025-03-13', to: '2025-03-13' } });
    expect(late.templates[1]).toMatchObject({ templateId: 'pct10', issued: 0, expired: 1 });
  });

  it('refuses a bad or missing date, and a range backwards', async () => {
    const field = async (query: { from: string; to?: string }) => {
      const e = await refusal(server.call('GET /v1/reports/coupons', { query }));
      expect(e.status).toBe(400);
      return e.field;
    };
    expect(await field({ from: '2025-02-30', to: '2025-03-31' })).toBe('from');
    expect(await field({ from: '2025-03-01' })).toBe('to');
    expect(await field({ from: '2025-03-31', to: '2025-03-01' })).toBe('to');
  });

  it('GET /v1/reports/summary: the coupon totals, and the coupons active from them', async () => {
    const s = (await server.call('GET /v1/reports/summary'));
    // Uses: Ann twice, Bob's two; discount 1000 + 1000 + 3000 + 1000, less Ann's 1000 given back.
    expect(s).toMatchObject({ couponsIssued: 6, couponsUsed: 4, couponsRestored: 1, couponsExpired: 1, couponsRevoked: 1, couponDiscountCents: 5000, couponsActive: 1 });
  });

  it('GET /v1/export/coupons.csv: every coupon, with a byte-order mark, in the documented columns', async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/v1/export/coupons.csv`, { headers: { authorization: `Bearer ${server.adminKey}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    // The bytes as sent: a text decoder would drop the byte-order mark.
    const text = Buffer.from(await res.arrayBuffer()).toString('utf8');
    expect(text.startsWith('\ufeffcode,templateId,memberId,state,issuedAt,validFrom,expiresAt,source,orderId,usedOrderId,discountCents\r\n')).toBe(true);
    const rows = parse(text, { columns: true, bom: true }) as Array<Record<string, string>>;
    const byCode = new Map(rows.map((r) => [r['code'], r]));
    expect(rows.length).toBe(6);
    expect(byCode.get(W['ann']!)).toEqual({
      code: W['ann'], templateId: 'welcome10', memberId: 'ann', state: 'used', issuedAt: '2025-03-01T02:00:00.000Z', validFrom: '2025-03-01T02:00:00.000Z',
      // 3,650 days after 1 March 2025 is 27 February 2035, which ends at 16:00 UTC.
      expiresAt: '2035-02-27T16:00:00.000Z', source: 'rule:welcome', orderId: '', usedOrderId: 'o-3', discountCents: '1000',
    });
    expect(byCode.get(P['ann']!)).toMatchObject({ state: 'expired', expiresAt: '2025-03-12T16:00:00.000Z', source: 'admin', usedOrderId: '', discountCents: '0' });
    expect(byCode.get(P['bob']!)).toMatchObject({ state: 'used', usedOrderId: 'o-2', discountCents: '3000' });
    expect(byCode.get(W['cat']!)).toMatchObject({ state: 'revoked', memberId: 'cat' });
    expect(byCode.get(W['dan']!)).toMatchObject({ state: 'active', memberId: 'dan' });
    // Code order within each shard's rows.
    const codes = rows.map((r) => r['code']!);
    const sortedRuns = codes.filter((c, i) => i > 0 && c < codes[i - 1]!).length;
    expect(sortedRuns).toBeLessThanOrEqual(1);
  });

  it('the member view lists the active coupons; a coupon\'s state at an instant', async () => {
    expect((await server.call('GET /v1/members/:id', { params: { id: 'dan' } })).coupons).toEqual([{ code: W['dan'], templateId: 'welcome10', expiresAt: '2035-02-27T16:00:00.000Z' }]);
    expect((await server.call('GET /v1/members/:id', { params: { id: 'ann' } })).coupons).toEqual([]);
    const at = async (iso: string) => (await server.call('GET /v1/coupons/:code', { params: { code: W['ann']! }, query: { at: iso } })).stateAt as string | null;
    expect(await at('2025-03-01T01:59:59Z')).toBeNull();
    expect(await at('2025-03-05T02:00:00Z')).toBe('used');
    expect(await at('2025-03-07T02:00:00Z')).toBe('active');
    expect(await at('2025-04-02T02:00:00Z')).toBe('used');
  });

  it('GET /v1/admin/verify: every coupon agrees with its ledger entries, indexes and counters', async () => {
    expect((await server.call('GET /v1/admin/verify'))).toMatchObject({ ok: true, members: 4, mismatches: [] });
  });
});
