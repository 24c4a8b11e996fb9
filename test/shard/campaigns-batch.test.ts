// Campaigns in the shard's batches (docs/rules.md §13), run in-process: resolved before the core's
// call on the tier the ops before left (also inside one batch) and the net after coupons and
// redeemed points, written into the order and its answer, reversed exactly by returns, listed by the
// quote, issuing their coupons after the rules'; a purchase whose campaigns would add too much is
// refused alone and the batch goes on.
import { afterEach, describe, expect, it } from 'vitest';
import { ShardHarness } from '../helpers/shard-harness.js';
import { demoProgram, validateProgram } from '../../engine/rules/program.js';
import type { Program } from '../../engine/rules/program-types.js';
import type { OpResult, WriteOp } from '../../engine/ops.js';
import { getOrder } from '../../engine/shard/store.js';
import { CAMPAIGN_EXTRA_POINTS_MAX } from '../../engine/limits.js';
import { campaignPart } from '../../engine/shard/report-scans.js';
import { mergeCampaignReport, type CampaignReportPart } from '../../engine/rules/campaign-report.js';
import { localDaysWindowMs } from '../../engine/rules/local-day.js';

type Doc = Record<string, any>;

/** Saturday 5 December 2026, 10:00 in Hong Kong. */
const SATURDAY = Date.parse('2026-12-05T02:00:00Z');
/** Tuesday 8 December 2026, 10:00 in Hong Kong. */
const TUESDAY = Date.parse('2026-12-08T02:00:00Z');
let h: ShardHarness;
afterEach(async () => { await h?.close(); });

const doubleWeekend = {
  id: 'double-weekend', name: 'Double points weekends', from: '2026-12-01', to: '2026-12-31', daysOfWeek: [6, 7],
  pointsMultiplierPct: 200, itemPoints: [{ sku: 'TEA-01', points: 50 }],
};

/** The demo program (Hong Kong) with `campaigns`, through the validator so every default is filled. */
function programWith(campaigns: Doc[], change: (doc: Doc) => void = () => {}): Program {
  const doc = JSON.parse(JSON.stringify(demoProgram())) as Doc;
  doc.coupons = [{ id: 'welcome10', name: 'HK$10 off', discount: { amountCents: 1000 }, validDays: 30 }];
  doc.campaigns = campaigns;
  change(doc);
  const result = validateProgram(doc);
  if (!result.ok) throw new Error(`${result.field}: ${result.message}`);
  return result.program;
}

let codeSeq = 0;
const codes = (n: number): string[] => Array.from({ length: n }, () => `K${String(++codeSeq).padStart(11, '0')}`);
const register = (memberId: string, more: Record<string, unknown> = {}): WriteOp =>
  ({ op: 'register', memberId, key: `reg:${memberId}`, fp: 1, atMs: Date.parse('2026-12-01T00:00:00Z'), referralChain: [], ...more } as WriteOp);
const purchase = (memberId: string, orderId: string, amountCents: number, more: Record<string, unknown> = {}, atMs = SATURDAY): WriteOp =>
  ({ op: 'purchase', memberId, orderId, key: 'order:' + orderId, fp: 7, atMs, amountCents, discountCents: 0, redeemPoints: 0, walletCents: 0, ...more } as WriteOp);
const giveBack = (memberId: string, orderId: string, returnId: string, amountCents: number, atMs = SATURDAY + 86_400_000): WriteOp =>
  ({ op: 'return', memberId, orderId, returnId, amountCents, key: 'ret:' + returnId, fp: 1, atMs } as WriteOp);
const ok = (r: OpResult): Record<string, any> => {
  if (!r.ok) throw new Error(`refused: ${JSON.stringify(r.error)}`);
  return r;
};
const tins = (qty: number) => ({ items: [{ sku: 'TEA-01', qty, amountCents: 5_000 * qty }] });

describe('campaigns in a shard batch', () => {
  it('earns a double-points Saturday with tins, lists what the campaign added, and returns it exactly in two parts', () => {
    h = new ShardHarness(programWith([doubleWeekend]), 1);
    ok(h.one(register('ann')));
    const sat = ok(h.one(purchase('ann', 'o1', 50_000, tins(2))));
    // floor(25 × 200 ÷ 100) + 2 × 50 = 150, of which the campaign added 25 by its multiplier and 100 by the tins.
    expect(sat).toMatchObject({ earnedPoints: 150, points: 150, campaigns: [{ id: 'double-weekend', points: 125 }] });
    const tue = ok(h.one(purchase('ann', 'o2', 50_000, tins(2), TUESDAY)));
    expect(tue).toMatchObject({ earnedPoints: 25, points: 175, campaigns: [] });
    const order = getOrder(h.shards[0]!.store, 'o1')!;
    expect(order.rate.multiplierPct).toBe(200);
    expect(order.campaigns).toEqual({
      baseMultiplierPct: 100,
      applied: [{ campaignId: 'double-weekend', multiplierPct: 200, bonusPoints: 0, itemPoints: 100, multiplierPoints: 25 }],
    });
    // HK$200 back leaves 30,000: floor(15 × 200 ÷ 100) + 100 = 130, so 20 are clawed back; the rest takes the last 130.
    expect(ok(h.one(giveBack('ann', 'o1', 'r1', 20_000)))).toMatchObject({ clawedBackPoints: 20, points: 155 });
    expect(ok(h.one(giveBack('ann', 'o1', 'r2', 30_000)))).toMatchObject({ clawedBackPoints: 130, points: 25 });
    expect(getOrder(h.shards[0]!.store, 'o1')!.now.earnedPoints).toBe(0);
    // A retry answers as first computed, campaigns included, after the returns.
    expect(h.one(purchase('ann', 'o1', 50_000, tins(2)))).toEqual({ ...sat, replayed: true });
    expect(h.mismatches()).toEqual([]);
  });

  it('keeps plain answers plain: no campaigns field while the program has none', () => {
    h = new ShardHarness(programWith([]), 1);
    ok(h.one(register('ann')));
    const r = ok(h.one(purchase('ann', 'o1', 50_000)));
    expect('campaigns' in r).toBe(false);
    expect(getOrder(h.shards[0]!.store, 'o1')!.campaigns).toBeUndefined();
    const q = ok(h.one({ op: 'quote', memberId: 'ann', amountCents: 50_000, atMs: SATURDAY }));
    expect('campaigns' in q).toBe(false);
  });

  it('matches on the tier the ops before it left, inside one batch too, and on the net after coupons and redeemed points', () => {
    const silverBonus = { id: 'silver-bonus', name: 's', tiers: ['silver'], bonusPoints: 7 };
    const bigBasket = { id: 'big-basket', name: 'b', minNetCents: 40_000, bonusPoints: 3 };
    h = new ShardHarness(programWith([silverBonus, bigBasket]), 1);
    ok(h.one(register('ann')));
    // The first purchase reaches Silver (100,000 of spend) as a Member; the second, in the same batch, earns as Silver.
    const [first, second] = h.batch([purchase('ann', 'o1', 100_000, {}, TUESDAY), purchase('ann', 'o2', 40_000, {}, TUESDAY + 1)]);
    expect(ok(first!)).toMatchObject({ upgradedTo: 'silver', earnedPoints: 50 + 3, campaigns: [{ id: 'big-basket', points: 3 }] });
    expect(ok(second!)).toMatchObject({ earnedPoints: 20 + 7 + 3, campaigns: [{ id: 'silver-bonus', points: 7 }, { id: 'big-basket', points: 3 }] });
    // 40,000 less 50 points redeemed at Silver (10 points = HK$1: 500 cents) is 39,500: below the basket's minimum.
    const redeemed = ok(h.one(purchase('ann', 'o3', 40_000, { redeemPoints: 50 }, TUESDAY + 2)));
    expect(redeemed).toMatchObject({ netCents: 39_500, campaigns: [{ id: 'silver-bonus', points: 7 }] });
    // 40,500 less the same 500 is exactly the minimum.
    const exact = ok(h.one(purchase('ann', 'o4', 40_500, { redeemPoints: 50 }, TUESDAY + 3)));
    expect(exact).toMatchObject({ netCents: 40_000, campaigns: [{ id: 'silver-bonus', points: 7 }, { id: 'big-basket', points: 3 }] });
  });

  it('matches on the net after the coupons the order uses', () => {
    const bigBasket = { id: 'big-basket', name: 'b', minNetCents: 40_000, bonusPoints: 3 };
    h = new ShardHarness(programWith([bigBasket], (d) => {
      d.couponRules = [{ id: 'welcome', trigger: 'register', templateId: 'welcome10' }];
    }), 1);
    const reg = ok(h.one(register('ann', { newCodes: codes(2) })));
    const code = (reg.couponsIssued as Array<{ code: string }>)[0]!.code;
    // HK$400 less the HK$10 coupon is 39,000: the basket's campaign does not apply.
    const r = ok(h.one(purchase('ann', 'o1', 40_000, { couponCodes: [code] }, TUESDAY)));
    expect(r).toMatchObject({ netCents: 39_000, couponDiscountCents: 1_000, earnedPoints: 19, campaigns: [] });
  });

  it('lets the birthday month and a campaign compete: the larger multiplier wins, bonuses add', () => {
    h = new ShardHarness(programWith([doubleWeekend], (d) => { d.birthday.multiplierPct = 150; }), 1);
    ok(h.one(register('ann', { birthday: '1990-12-20' })));
    expect(ok(h.one(purchase('ann', 'o1', 50_000, {}, TUESDAY)))).toMatchObject({ earnedPoints: 37, campaigns: [] });
    // Saturday: M is the larger 200; the campaign's multiplier added 50 − 37 = 13, and 100 for the tins.
    expect(ok(h.one(purchase('ann', 'o2', 50_000, tins(2))))).toMatchObject({ earnedPoints: 150, campaigns: [{ id: 'double-weekend', points: 113 }] });
    expect(getOrder(h.shards[0]!.store, 'o2')!.campaigns).toMatchObject({ baseMultiplierPct: 150, applied: [{ multiplierPoints: 13 }] });
  });

  it('quotes the campaigns a purchase would get at the quote\'s time, channel, store and items', () => {
    const opening = { id: 'tst-opening', name: 'o', channels: ['offline'], storeIds: ['tst'], bonusPoints: 20 };
    h = new ShardHarness(programWith([doubleWeekend, opening]), 1);
    ok(h.one(register('ann')));
    const quote = (more: Record<string, unknown>, atMs = SATURDAY) =>
      ok(h.one({ op: 'quote', memberId: 'ann', amountCents: 50_000, atMs, ...more } as WriteOp));
    expect(quote({})).toMatchObject({ pointsToEarn: 50, campaigns: [{ id: 'double-weekend', points: 25 }] });
    expect(quote({ ...tins(3), channel: 'offline', storeId: 'tst' })).toMatchObject({
      pointsToEarn: 50 + 150 + 20, campaigns: [{ id: 'double-weekend', points: 175 }, { id: 'tst-opening', points: 20 }],
    });
    expect(quote({}, TUESDAY)).toMatchObject({ pointsToEarn: 25, campaigns: [] });
  });

  it('refuses alone a purchase whose campaigns would add too much: its coupon goes back and the batch goes on', () => {
    const lavish = { id: 'lavish', name: 'l', itemPoints: [{ sku: 'GOLD-BAR', points: 1_000_000_000 }] };
    h = new ShardHarness(programWith([lavish], (d) => {
      d.couponRules = [{ id: 'welcome', trigger: 'register', templateId: 'welcome10' }];
    }), 1);
    const reg = ok(h.one(register('ann', { newCodes: codes(2) })));
    const code = (reg.couponsIssued as Array<{ code: string }>)[0]!.code;
    const bars = (qty: number) => ({ items: [{ sku: 'GOLD-BAR', qty, amountCents: 100 }] });
    // 1,001 bars would add 1,001 × 10^9 points, past the bound of 10^12; 1,000 bars add exactly the bound.
    const results = h.batch([
      purchase('ann', 'o1', 50_000, { ...bars(1_001), couponCodes: [code] }, TUESDAY),
      purchase('ann', 'o2', 50_000, { couponCodes: [code] }, TUESDAY + 1),
      purchase('ann', 'o3', 50_000, bars(1_000), TUESDAY + 2),
    ]);
    expect(results[0]).toEqual({ ok: false, error: expect.objectContaining({ code: 'balance_limit', field: 'items' }) });
    // The campaign applies to every purchase; without the bars it adds nothing.
    expect(ok(results[1]!)).toMatchObject({ couponDiscountCents: 1_000, earnedPoints: 24, campaigns: [{ id: 'lavish', points: 0 }] });
    expect(ok(results[2]!)).toMatchObject({ earnedPoints: 25 + CAMPAIGN_EXTRA_POINTS_MAX, campaigns: [{ id: 'lavish', points: CAMPAIGN_EXTRA_POINTS_MAX }] });
    expect(getOrder(h.shards[0]!.store, 'o1')).toBeUndefined();
    expect(h.mismatches()).toEqual([]);
  });

  it('issues a campaign\'s coupon per qualifying order after the rules\', skips one without a code, and revokes it on a full return', () => {
    const opening = { id: 'tst-opening', name: 'o', storeIds: ['tst'], bonusPoints: 20, couponTemplateId: 'welcome10' };
    h = new ShardHarness(programWith([opening], (d) => {
      d.coupons.push({ id: 'thanks', name: 'thanks', discount: { amountCents: 500 }, validDays: 10 });
      d.couponRules = [{ id: 'thanks', trigger: 'purchase', templateId: 'thanks' }];
    }), 1);
    ok(h.one(register('ann')));
    const r = ok(h.one(purchase('ann', 'o1', 15_000, { storeId: 'tst', newCodes: codes(3) }, TUESDAY)));
    expect(r['couponsIssued']).toMatchObject([{ templateId: 'thanks', ruleId: 'thanks' }, { templateId: 'welcome10', campaignId: 'tst-opening' }]);
    const code = (r['couponsIssued'] as Array<{ code: string }>)[1]!.code;
    expect(h.shards[0]!.store.coupons.get(code)).toMatchObject({ source: 'campaign:tst-opening', issuedByOrderId: 'o1', state: 'active' });
    // No code left for the campaign: it is skipped and named, the purchase and its points stand.
    const short = ok(h.one(purchase('ann', 'o2', 15_000, { storeId: 'tst', newCodes: codes(1) }, TUESDAY + 1)));
    expect(short).toMatchObject({ earnedPoints: 27, couponsSkipped: [{ campaignId: 'tst-opening', templateId: 'welcome10', reason: 'no_code' }] });
    // Elsewhere the campaign does not apply: the rule's coupon alone.
    const plain = ok(h.one(purchase('ann', 'o3', 15_000, { newCodes: codes(3) }, TUESDAY + 2)));
    expect(plain).toMatchObject({ couponsIssued: [{ ruleId: 'thanks' }], campaigns: [] });
    const back = ok(h.one(giveBack('ann', 'o1', 'r1', 15_000, TUESDAY + 3)));
    expect(back).toMatchObject({ clawedBackPoints: 27 });
    expect(back['couponsRevoked']).toContain(code);
    expect(h.mismatches()).toEqual([]);
  });

  it('reports per campaign the orders placed in the window, their net and the points it added, less what returns took back', () => {
    const bonus = { id: 'bonus', name: 'Bonus', bonusPoints: 5, daysOfWeek: [2] };
    const program = programWith([doubleWeekend, bonus]);
    h = new ShardHarness(program, 1);
    ok(h.one(register('ann')));
    ok(h.one(purchase('ann', 'o1', 50_000, tins(2))));
    ok(h.one(purchase('ann', 'o2', 50_000)));
    ok(h.one(purchase('ann', 'o3', 50_000, {}, TUESDAY)));
    // Sunday 1 November: before the weekend campaign's window, on a Sunday.
    ok(h.one(purchase('ann', 'o0', 50_000, {}, Date.parse('2026-11-29T02:00:00Z'))));
    // o1 keeps 30,000: its regular 15 points doubled add 15 (of 25) and the tins 100: 10 of 125 went back. o2 is returned whole.
    ok(h.one(giveBack('ann', 'o1', 'r1', 20_000)));
    ok(h.one(giveBack('ann', 'o2', 'r2', 50_000)));
    const store = h.shards[0]!.store;
    const december = localDaysWindowMs('2026-12-01', '2026-12-31', program.timezone);
    const whole = campaignPart(store, december, null, 1_000);
    expect(whole.next).toBeNull();
    const report = mergeCampaignReport(program.campaigns, [whole.part]);
    expect(report.campaigns).toEqual([
      { campaignId: 'double-weekend', name: 'Double points weekends', orders: 2, netSalesCents: 100_000, returnedCents: 70_000, extraPoints: 150, extraPointsReturned: 35, couponsIssued: 0 },
      { campaignId: 'bonus', name: 'Bonus', orders: 1, netSalesCents: 50_000, returnedCents: 0, extraPoints: 5, extraPointsReturned: 0, couponsIssued: 0 },
    ]);
    expect(report.totals).toEqual({ orders: 3, netSalesCents: 150_000, returnedCents: 70_000, extraPoints: 155, extraPointsReturned: 35, couponsIssued: 0 });
    // Read one order per slice, the parts add up to the same.
    const slices: CampaignReportPart[] = [];
    for (let after: string | null | undefined; after !== null;) {
      const slice = campaignPart(store, december, after ?? null, 1);
      slices.push(slice.part);
      after = slice.next;
    }
    expect(slices.length).toBeGreaterThan(3);
    expect(mergeCampaignReport(program.campaigns, slices)).toEqual(report);
    // Saturday 5 December alone: the weekend's two orders; the window ends at the local midnight.
    const saturday = mergeCampaignReport(program.campaigns, [campaignPart(store, localDaysWindowMs('2026-12-05', '2026-12-05', program.timezone), null, 1_000).part]);
    expect(saturday.campaigns.map((c) => c.orders)).toEqual([2, 0]);
    // A campaign the program no longer has still shows, after the program's, without a name.
    expect(mergeCampaignReport([bonus as never], [whole.part]).campaigns.map((c) => [c.campaignId, c.name])).toEqual([['bonus', 'Bonus'], ['double-weekend', null]]);
  });
});
