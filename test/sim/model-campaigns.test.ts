// The reference model's campaigns (test/sim/model.ts) against the worked figures of docs/rules.md
// §13.3, with the campaigns of docs/program.md: so that a disagreement in a simulation points at
// the engine, not at the model's reading of the windows, the days, the zone or the multipliers.
// Also the one coupon a campaign issues, after the purchase's own rules', and its revocation by a
// full return (§12.7, §12.8, §13.4).
import { describe, expect, it } from 'vitest';
import { Model, type Body } from './model.js';
import type { SimCampaign, SimProgram } from './program.js';

const doubleWeekend: SimCampaign = {
  id: 'double-weekend', name: 'Double points weekends', active: true, from: '2026-12-01', to: '2026-12-31', daysOfWeek: [6, 7],
  channels: null, storeIds: null, tiers: null, minNetCents: 0, pointsMultiplierPct: 200, bonusPoints: 0,
  itemPoints: [{ sku: 'TEA-01', points: 50 }], couponTemplateId: null,
};
const tstOpening: SimCampaign = {
  id: 'tst-opening', name: 'Tsim Sha Tsui opening week', active: true, from: '2026-11-20', to: '2026-11-26', daysOfWeek: null,
  channels: ['offline'], storeIds: ['tst'], tiers: ['member', 'silver'], minNetCents: 10_000, pointsMultiplierPct: 100, bonusPoints: 20,
  itemPoints: [], couponTemplateId: 'welcome10',
};

/** The demo program's Member tier (1 point per HK$20) and its two campaigns; `over` changes the rest. */
function program(over: Partial<SimProgram> = {}): SimProgram {
  return {
    name: 'Tea House', currency: 'HKD', timezone: 'Asia/Hong_Kong', qualifyBy: 'spend', membershipDays: null, carryForward: 'excess', downgrade: 'qualify',
    tiers: [{
      id: 'member', name: 'Member', threshold: 0, earn: { cents: 2_000, points: 1 }, redeem: { points: 10, cents: 100 }, discountBps: 0,
      retainThreshold: null, expressUpgradeCents: null, upgradeBonusPoints: 0, renewalBonusPoints: 0,
    }],
    orderPoints: 0, growth: { points: 1, growth: 1 }, signupPoints: 0, birthday: { bonusPoints: 0, multiplierPct: 100 },
    pointsExpiryDays: null, notifyExpiringDays: 0, allowNegativePoints: true, referral: { enabled: false, refereePoints: 0, levels: [] },
    wallet: { minTopupCents: 100, maxSpendCentsPerOrder: null, topupBonuses: [] }, products: [],
    coupons: [{
      id: 'welcome10', name: 'HK$10 off', active: true, discount: { amountCents: 1_000 }, minSpendCents: 0, eligibleTiers: null,
      channels: ['online', 'offline'], validDays: 30, validFrom: null, validTo: null, perMemberMax: null, totalMax: null, restoreOnFullReturn: true,
    }],
    couponRules: [], campaigns: [doubleWeekend, tstOpening], pointsPendingDays: 0, ...over,
  };
}

function modelWithAnn(p: SimProgram, birthday?: string): Model {
  const model = new Model(p, 1, { shards: 1, globalRequestKeys: false, refuseAncientAt: true, patchBirthdayFully: true });
  const registered = model.apply('register', { memberId: 'ann', at: '2026-01-01T00:00:00Z', ...(birthday === undefined ? {} : { birthday }) }, { role: 'admin', nowMs: Date.parse('2026-01-01T00:00:00Z') });
  expect(registered.ok).toBe(true);
  return model;
}

/** What the model answers to a quote of `netCents` (the Member tier has no discount, so the net is the amount). */
function quote(model: Model, at: string, netCents: number, where: Body = {}): Body {
  const outcome = model.apply('quote', { memberId: 'ann', amountCents: netCents, at, ...where }, { role: 'admin', nowMs: Date.parse(at) });
  if (!outcome.ok) throw new Error(`quote refused: ${outcome.codes.join(', ')}`);
  return outcome.answer;
}

const twoTins = { items: [{ sku: 'TEA-01', qty: 2, amountCents: 1_000 }] };
const tst = (channel: string) => ({ channel, storeId: 'tst' });

describe('the reference model\'s campaigns', () => {
  it('earns what the table of §13.3 says, across Hong Kong\'s midnights and the windows\' ends', () => {
    const model = modelWithAnn(program());
    const rows: Array<[string, number, Body, number, Array<{ id: string; points: number }>]> = [
      ['2026-12-04T15:59:59Z', 50_000, twoTins, 25, []],
      ['2026-12-04T16:00:00Z', 50_000, twoTins, 150, [{ id: 'double-weekend', points: 125 }]],
      ['2026-12-26T10:00:00Z', 50_000, { items: [{ sku: 'TEA-01', qty: 1, amountCents: 500 }, { sku: 'TEA-01', qty: 2, amountCents: 1_000 }] }, 200, [{ id: 'double-weekend', points: 175 }]],
      ['2027-01-02T02:00:00Z', 50_000, twoTins, 25, []],
      ['2026-11-19T15:59:59Z', 15_000, tst('offline'), 7, []],
      ['2026-11-19T16:00:00Z', 15_000, tst('offline'), 27, [{ id: 'tst-opening', points: 20 }]],
      ['2026-11-21T04:00:00Z', 9_999, tst('offline'), 4, []],
      ['2026-11-21T04:00:00Z', 15_000, tst('online'), 7, []],
      ['2026-11-21T04:00:00Z', 15_000, { channel: 'offline' }, 7, []],
    ];
    for (const [at, net, where, earned, campaigns] of rows) {
      const answer = quote(model, at, net, where);
      expect([at, answer['pointsToEarn'], answer['campaigns']]).toEqual([at, earned, campaigns]);
    }
  });

  it('lets the larger of the birthday month\'s multiplier and a campaign\'s win, and multiplies orderPoints', () => {
    const december = modelWithAnn(program({ birthday: { bonusPoints: 0, multiplierPct: 150 } }), '1990-12-15');
    expect(quote(december, '2026-12-08T04:00:00Z', 50_000)['pointsToEarn']).toBe(37);
    expect(quote(december, '2026-12-05T04:00:00Z', 50_000)).toMatchObject({ pointsToEarn: 50, campaigns: [{ id: 'double-weekend', points: 13 }] });
    const triple = modelWithAnn(program({ birthday: { bonusPoints: 0, multiplierPct: 300 } }), '1990-12-15');
    expect(quote(triple, '2026-12-05T04:00:00Z', 50_000)).toMatchObject({ pointsToEarn: 75, campaigns: [{ id: 'double-weekend', points: 0 }] });
    expect(quote(modelWithAnn(program({ orderPoints: 10 })), '2026-12-05T04:00:00Z', 50_000)['pointsToEarn']).toBe(70);
  });

  it('returns a campaign order as §13.3 does: the multiplier on what remains, item points with the last return', () => {
    const model = modelWithAnn(program());
    const at = '2026-12-04T16:00:00Z';
    const bought = model.apply('purchase', { orderId: 'o1', memberId: 'ann', amountCents: 50_000, at, ...twoTins }, { role: 'admin', nowMs: Date.parse(at) });
    expect(bought.ok && bought.answer['earnedPoints']).toBe(150);
    // The campaign report (§10.7): double-weekend added 125 (25 by its multiplier, 100 by its items).
    const row = () => model.campaignReport('2026-12-05', '2026-12-05').campaigns[0]!;
    expect(row()).toMatchObject({ campaignId: 'double-weekend', orders: 1, netSalesCents: 50_000n, returnedCents: 0n, extraPoints: 125n, extraPointsReturned: 0n });
    const first = model.apply('return', { returnId: 'r1', orderId: 'o1', amountCents: 20_000, at }, { role: 'admin', nowMs: Date.parse(at) });
    expect(first.ok && first.answer['clawedBackPoints']).toBe(20);
    // On 30,000 left the multiplier adds floor(15 × 200 ÷ 100) − 15 = 15 of its 25; the item points stay.
    expect(row()).toMatchObject({ returnedCents: 20_000n, extraPointsReturned: 10n });
    const last = model.apply('return', { returnId: 'r2', orderId: 'o1', amountCents: 30_000, at }, { role: 'admin', nowMs: Date.parse(at) });
    expect(last.ok && last.answer['clawedBackPoints']).toBe(130);
    expect(row()).toMatchObject({ returnedCents: 50_000n, extraPointsReturned: 125n });
    // Friday 4 December in Hong Kong is outside the window; tst-opening's row is there with zeros.
    expect(model.campaignReport('2026-12-04', '2026-12-04')).toMatchObject({ campaigns: [{ orders: 0 }, { campaignId: 'tst-opening', orders: 0 }], totals: { orders: 0 } });
  });

  it('issues a campaign\'s coupon after the rules\' and revokes it with a full return', () => {
    const p = program({ couponRules: [{ id: 'r0', trigger: 'purchase', templateId: 'welcome10', minNetCents: 0, tiers: null, channels: null }] });
    const model = modelWithAnn(p);
    const at = '2026-11-20T04:00:00Z';
    const bought = model.apply('purchase', { orderId: 'o1', memberId: 'ann', amountCents: 15_000, at, ...tst('offline') }, { role: 'admin', nowMs: Date.parse(at) });
    if (!bought.ok) throw new Error(`refused: ${bought.codes.join(', ')}`);
    expect(bought.answer['campaigns']).toEqual([{ id: 'tst-opening', points: 20 }]);
    const issued = bought.answer['couponsIssued'] as Body[];
    expect(issued.map((c) => [c['ruleId'], c['campaignId'], c['templateId']])).toEqual([['r0', undefined, 'welcome10'], [undefined, 'tst-opening', 'welcome10']]);
    expect(model.couponView(model.coupons.byCode.get(issued[1]!['code'] as string)!)).toMatchObject({ source: 'campaign:tst-opening', orderId: 'o1' });
    const back = model.apply('return', { returnId: 'r1', orderId: 'o1', amountCents: 15_000, at }, { role: 'admin', nowMs: Date.parse(at) });
    expect(back.ok && back.answer['couponsRevoked']).toEqual(issued.map((c) => c['code']));
  });

  it('gives every purchase the coupon fields while an active campaign names a template, and none once none does', () => {
    const at = '2026-11-20T04:00:00Z';
    const online = modelWithAnn(program()).apply('purchase', { orderId: 'o1', memberId: 'ann', amountCents: 15_000, at, ...tst('online') }, { role: 'admin', nowMs: Date.parse(at) });
    expect(online.ok && online.answer).toMatchObject({ campaigns: [], couponDiscountCents: 0, couponsUsed: [], couponsIssued: [], couponsSkipped: [] });
    const off = program({ campaigns: [doubleWeekend, { ...tstOpening, active: false }] });
    const plain = modelWithAnn(off).apply('purchase', { orderId: 'o1', memberId: 'ann', amountCents: 15_000, at, ...tst('offline') }, { role: 'admin', nowMs: Date.parse(at) });
    expect(plain.ok && plain.answer['campaigns']).toEqual([]);
    expect(plain.ok && 'couponsIssued' in plain.answer).toBe(false);
  });
});
