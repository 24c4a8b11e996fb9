// Unit tests of the pure campaign rules (docs/rules.md §13.1-13.2): which campaigns apply to a
// purchase (window edges at local midnight in Hong Kong, ISO days of the week in the program's zone,
// open windows, inactive campaigns, stores, channels, tiers, the minimum net), the multiplier M
// against the birthday month's, item points with quantities, exactness past 2^53, and agreement with
// the core's arithmetic: the net they match on is the core's, and the points each campaign added are
// exactly what the campaigns change in the core's result.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CampaignPurchase, baseMultiplierPct, campaignOutcome, isoWeekday, purchaseNetCents, quoteNetCents,
} from '../../engine/rules/campaigns.js';
import { demoProgram, validateProgram } from '../../engine/rules/program.js';
import type { Program } from '../../engine/rules/program-types.js';
import { encodeProgram } from '../../engine/core/wasm.js';
import { runReference } from '../../engine/core/reference.js';
import {
  NONE, M_SLOTS, O_SLOTS, R_SLOTS, O_KIND, O_SLOT, O_AT_MS, O_A, O_B, O_C, O_MULTIPLIER_PCT, O_EXTRA_POINTS,
  OP_PURCHASE, OP_QUOTE, PROGRAM_SLOTS, R_STATUS, R_EARNED_POINTS, R_NET_CENTS, S_OK, S_NEGATIVE_NET, M_POINTS,
} from '../../engine/core/layout.js';
import { AMOUNT_CENTS_MAX, CAMPAIGN_EXTRA_POINTS_MAX, POINTS_OP_MAX, SAFE_INTEGER_MAX } from '../../engine/limits.js';

type Doc = Record<string, any>;

const at = (iso: string) => Date.parse(iso);
const floor = Math.floor;

/** The demo program (Hong Kong) with `campaigns` and optional changes, through the validator so every default is filled. */
function programWith(campaigns: Doc[], change: (doc: Doc) => void = () => {}): Program {
  const doc = JSON.parse(JSON.stringify(demoProgram())) as Doc;
  doc.coupons = [{ id: 'welcome10', name: 'HK$10 off', discount: { amountCents: 1000 }, validDays: 30 }];
  doc.campaigns = campaigns;
  change(doc);
  const result = validateProgram(doc);
  if (!result.ok) throw new Error(`${result.field}: ${result.message}`);
  return result.program;
}

/** docs/program.md's example campaigns. */
const doubleWeekend = {
  id: 'double-weekend', name: 'Double points weekends', from: '2026-12-01', to: '2026-12-31', daysOfWeek: [6, 7],
  pointsMultiplierPct: 200, itemPoints: [{ sku: 'TEA-01', points: 50 }],
};
const tstOpening = {
  id: 'tst-opening', name: 'Tsim Sha Tsui opening week', from: '2026-11-20', to: '2026-11-26', channels: ['offline'],
  storeIds: ['tst'], tiers: ['member', 'silver'], minNetCents: 10_000, bonusPoints: 20, couponTemplateId: 'welcome10',
};

const purchase = (over: Partial<CampaignPurchase> = {}): CampaignPurchase => ({
  atMs: at('2026-12-05T02:00:00Z'), channel: null, storeId: null, tierId: 'member', netCents: 50_000, items: null,
  inBirthdayMonth: false, ...over,
});

const appliedIds = (program: Program, p: CampaignPurchase): string[] => campaignOutcome(program, p).applied.map((a) => a.campaignId);

describe('isoWeekday', () => {
  it('numbers Monday 1 through Sunday 7', () => {
    expect(isoWeekday(1970, 1, 1)).toBe(4);
    expect(isoWeekday(2000, 1, 1)).toBe(6);
    expect(isoWeekday(2024, 2, 29)).toBe(4);
    expect([4, 5, 6, 7].map((day) => isoWeekday(2026, 12, day))).toEqual([5, 6, 7, 1]);
    expect(isoWeekday(9999, 12, 31)).toBe(5);
  });
});

describe('which campaigns apply', () => {
  const program = programWith([doubleWeekend, tstOpening]);
  const inStore = { channel: 'offline', storeId: 'tst', netCents: 15_000 } as const;

  it('includes both ends of the window, in local dates of Hong Kong (UTC+8)', () => {
    expect(appliedIds(program, purchase({ ...inStore, atMs: at('2026-11-19T15:59:59.999Z') }))).toEqual([]);
    expect(appliedIds(program, purchase({ ...inStore, atMs: at('2026-11-19T16:00:00Z') }))).toEqual(['tst-opening']);
    expect(appliedIds(program, purchase({ ...inStore, atMs: at('2026-11-26T15:59:59.999Z') }))).toEqual(['tst-opening']);
    expect(appliedIds(program, purchase({ ...inStore, atMs: at('2026-11-26T16:00:00Z') }))).toEqual([]);
  });

  it('takes the day of the week of the local date: Friday 16:00 UTC is Saturday in Hong Kong, not in UTC', () => {
    const utc = programWith([doubleWeekend], (d) => { d.timezone = 'UTC'; });
    const fridayLate = purchase({ atMs: at('2026-12-04T16:00:00Z') });
    expect(appliedIds(program, purchase({ atMs: at('2026-12-04T15:59:59.999Z') }))).toEqual([]);
    expect(appliedIds(program, fridayLate)).toEqual(['double-weekend']);
    expect(appliedIds(utc, fridayLate)).toEqual([]);
    // Sunday 16:00 UTC is Monday in Hong Kong: the weekend is over there, not in UTC.
    const sundayLate = purchase({ atMs: at('2026-12-06T16:00:00Z') });
    expect(appliedIds(program, sundayLate)).toEqual([]);
    expect(appliedIds(utc, sundayLate)).toEqual(['double-weekend']);
    // Saturday 2 January 2027 is past the window's last day.
    expect(appliedIds(program, purchase({ atMs: at('2027-01-02T02:00:00Z') }))).toEqual([]);
  });

  it('leaves a null side of the window open, and a campaign without window or days applies on any date', () => {
    const untilEnd = programWith([{ id: 'until', name: 'u', to: '2026-12-31' }]);
    const fromStart = programWith([{ id: 'from', name: 'f', from: '2026-12-01' }]);
    const always = programWith([{ id: 'always', name: 'a' }]);
    expect(appliedIds(untilEnd, purchase({ atMs: at('2000-01-01T00:00:00Z') }))).toEqual(['until']);
    expect(appliedIds(untilEnd, purchase({ atMs: at('2026-12-31T16:00:00Z') }))).toEqual([]);
    expect(appliedIds(fromStart, purchase({ atMs: at('2026-11-30T15:59:59.999Z') }))).toEqual([]);
    expect(appliedIds(fromStart, purchase({ atMs: at('9999-12-31T12:00:00Z') }))).toEqual(['from']);
    expect(appliedIds(always, purchase({ atMs: at('2000-01-01T00:00:00Z') }))).toEqual(['always']);
  });

  it('never applies an inactive campaign', () => {
    const off = programWith([{ ...doubleWeekend, active: false }]);
    expect(campaignOutcome(off, purchase())).toMatchObject({ applied: [], multiplierPct: 100, extraPoints: 0 });
  });

  it('matches channel, store, tier and net; a purchase without a channel or store misses a campaign that lists them', () => {
    const during = { ...inStore, atMs: at('2026-11-21T04:00:00Z') };
    expect(appliedIds(program, purchase(during))).toEqual(['tst-opening']);
    expect(appliedIds(program, purchase({ ...during, channel: 'online' }))).toEqual([]);
    expect(appliedIds(program, purchase({ ...during, channel: null }))).toEqual([]);
    expect(appliedIds(program, purchase({ ...during, storeId: 'mk' }))).toEqual([]);
    expect(appliedIds(program, purchase({ ...during, storeId: null }))).toEqual([]);
    expect(appliedIds(program, purchase({ ...during, tierId: 'silver' }))).toEqual(['tst-opening']);
    expect(appliedIds(program, purchase({ ...during, tierId: 'gold' }))).toEqual([]);
    expect(appliedIds(program, purchase({ ...during, netCents: 10_000 }))).toEqual(['tst-opening']);
    expect(appliedIds(program, purchase({ ...during, netCents: 9_999 }))).toEqual([]);
    // No campaign applies to a negative net (the core refuses the purchase), not even one without a minimum.
    expect(appliedIds(programWith([{ id: 'any', name: 'a' }]), purchase({ netCents: -1 }))).toEqual([]);
  });

  it('applies every matching campaign in program order and issues their coupons in that order', () => {
    const both = programWith([
      { id: 'weekend-coupon', name: 'w', daysOfWeek: [6], couponTemplateId: 'welcome10' },
      { id: 'bonus', name: 'b', bonusPoints: 5 },
      { id: 'store-coupon', name: 's', storeIds: ['tst'], couponTemplateId: 'welcome10' },
    ]);
    const outcome = campaignOutcome(both, purchase({ storeId: 'tst' }));
    expect(outcome.applied.map((a) => a.campaignId)).toEqual(['weekend-coupon', 'bonus', 'store-coupon']);
    expect(outcome.coupons).toEqual([
      { campaignId: 'weekend-coupon', templateId: 'welcome10' }, { campaignId: 'store-coupon', templateId: 'welcome10' },
    ]);
  });
});

describe('the multiplier, bonuses and item points', () => {
  it('gives no campaign B: the birthday multiplier in the birthday month, else 100', () => {
    const none = programWith([], (d) => { d.birthday.multiplierPct = 150; });
    expect(baseMultiplierPct(none, true)).toBe(150);
    expect(baseMultiplierPct(none, false)).toBe(100);
    expect(campaignOutcome(none, purchase({ inBirthdayMonth: true }))).toEqual({
      applied: [], baseMultiplierPct: 150, multiplierPct: 150, extraPoints: 0, extraWithinLimit: true, coupons: [],
    });
  });

  it('doubles a Saturday purchase and pays 50 per tin: 25 × 2 + 2 × 50 = 150, of which the campaign added 125', () => {
    const program = programWith([doubleWeekend]);
    const outcome = campaignOutcome(program, purchase({ items: [{ sku: 'TEA-01', qty: 2 }, { sku: 'MUG', qty: 1 }] }));
    expect(outcome).toEqual({
      applied: [{ campaignId: 'double-weekend', multiplierPct: 200, bonusPoints: 0, itemPoints: 100, multiplierPoints: 25, points: 125 }],
      baseMultiplierPct: 100, multiplierPct: 200, extraPoints: 100, extraWithinLimit: true, coupons: [],
    });
  });

  it('lets the largest multiplier win, the birthday month\'s included, and credits it to the first of the largest', () => {
    const program = (birthdayPct: number, campaigns: Doc[]) => programWith(campaigns, (d) => { d.birthday.multiplierPct = birthdayPct; });
    const birthday = purchase({ inBirthdayMonth: true });
    // Regular points 25: B = 150 gives 37; a 200% campaign gives 50, adding 13.
    expect(campaignOutcome(program(150, [doubleWeekend]), birthday)).toMatchObject({
      multiplierPct: 200, baseMultiplierPct: 150, applied: [{ multiplierPoints: 13, points: 13 }],
    });
    // B = 300 is larger: the campaign's multiplier adds nothing.
    expect(campaignOutcome(program(300, [doubleWeekend]), birthday)).toMatchObject({
      multiplierPct: 300, applied: [{ multiplierPoints: 0, points: 0 }],
    });
    // Equal multipliers: the birthday month's stands, the campaign adds nothing.
    expect(campaignOutcome(program(200, [doubleWeekend]), birthday)).toMatchObject({ multiplierPct: 200, applied: [{ multiplierPoints: 0 }] });
    // A bonus-only campaign (multiplier 100) keeps a birthday multiplier below 100; a 120% one replaces it.
    expect(campaignOutcome(program(50, [{ id: 'bonus', name: 'b', bonusPoints: 3 }]), birthday)).toMatchObject({
      multiplierPct: 50, extraPoints: 3, applied: [{ multiplierPoints: 0, points: 3 }],
    });
    expect(campaignOutcome(program(50, [{ id: 'plus', name: 'p', pointsMultiplierPct: 120 }]), birthday)).toMatchObject({
      multiplierPct: 120, applied: [{ multiplierPoints: floor(25 * 120 / 100) - floor(25 * 50 / 100) }],
    });
    // Two campaigns never compound: 150% and 200% give 200%, credited to the 200% one; of two equal, the first.
    const two = campaignOutcome(program(100, [{ id: 'a', name: 'a', pointsMultiplierPct: 150 }, { id: 'b', name: 'b', pointsMultiplierPct: 200 }]), purchase());
    expect([two.multiplierPct, two.applied.map((a) => a.multiplierPoints)]).toEqual([200, [0, 25]]);
    const tie = campaignOutcome(program(100, [{ id: 'a', name: 'a', pointsMultiplierPct: 200 }, { id: 'b', name: 'b', pointsMultiplierPct: 200 }]), purchase());
    expect(tie.applied.map((a) => a.multiplierPoints)).toEqual([25, 0]);
  });

  it('multiplies orderPoints with the regular points: (25 + 10) × 200% adds 35', () => {
    const program = programWith([doubleWeekend], (d) => { d.orderPoints = 10; });
    expect(campaignOutcome(program, purchase()).applied[0]!.multiplierPoints).toBe(35);
  });

  it('counts item points per unit, lines of one SKU adding up, and a SKU listed by two campaigns for each', () => {
    const program = programWith([
      { id: 'tea', name: 't', itemPoints: [{ sku: 'TEA-01', points: 50 }, { sku: 'TEA-02', points: 7 }] },
      { id: 'tea-again', name: 't2', bonusPoints: 1, itemPoints: [{ sku: 'TEA-01', points: 3 }] },
    ]);
    const items = [{ sku: 'TEA-01', qty: 1 }, { sku: 'MUG', qty: 4 }, { sku: 'TEA-02', qty: 3 }, { sku: 'TEA-01', qty: 2 }];
    const outcome = campaignOutcome(program, purchase({ items }));
    expect(outcome.applied.map((a) => [a.campaignId, a.itemPoints, a.points])).toEqual([['tea', 3 * 50 + 3 * 7, 171], ['tea-again', 9, 10]]);
    expect(outcome.extraPoints).toBe(171 + 10);
    expect(campaignOutcome(program, purchase({ items: null })).extraPoints).toBe(1);
    expect(campaignOutcome(program, purchase({ items: [] })).extraPoints).toBe(1);
  });
});

describe('exactness at the bounds', () => {
  it('accepts campaign points up to 10^12 and flags one point more, also when a product passes 2^53', () => {
    const program = programWith([
      { id: 'big', name: 'b', itemPoints: [{ sku: 'GOLD-BAR', points: POINTS_OP_MAX }] },
      { id: 'more', name: 'm', bonusPoints: 1, tiers: ['silver'] },
    ]);
    const one = campaignOutcome(program, purchase({ items: [{ sku: 'GOLD-BAR', qty: 1 }] }));
    expect([one.extraPoints, one.extraWithinLimit]).toEqual([CAMPAIGN_EXTRA_POINTS_MAX, true]);
    const plusOne = campaignOutcome(program, purchase({ tierId: 'silver', items: [{ sku: 'GOLD-BAR', qty: 1 }] }));
    expect([plusOne.extraPoints, plusOne.extraWithinLimit]).toEqual([CAMPAIGN_EXTRA_POINTS_MAX + 1, false]);
    // 10^12 points × 10^6 units = 10^18, past 2^53: refused, never wrapped or rounded into range.
    const huge = campaignOutcome(program, purchase({ items: [{ sku: 'GOLD-BAR', qty: 1_000_000 }, { sku: 'GOLD-BAR', qty: 1 }] }));
    expect(huge.extraWithinLimit).toBe(false);
    expect(huge.extraPoints).toBeGreaterThan(CAMPAIGN_EXTRA_POINTS_MAX);
  });

  it('computes a multiplier\'s points exactly where net × earn.points and regular × M pass 2^53', () => {
    const program = programWith([{ id: 'x', name: 'x', pointsMultiplierPct: 10_000 }], (d) => {
      d.tiers[0].earn = { cents: 999_983, points: 999_999 };
      d.orderPoints = 7;
      d.birthday.multiplierPct = 137;
    });
    const netCents = 999_999_999_999;
    const regular = (BigInt(netCents) * 999_999n) / 999_983n + 7n;
    expect(BigInt(netCents) * 999_999n > BigInt(SAFE_INTEGER_MAX)).toBe(true);
    expect(regular * 10_000n > BigInt(SAFE_INTEGER_MAX)).toBe(true);
    const expected = (regular * 10_000n) / 100n - (regular * 137n) / 100n;
    expect(expected <= BigInt(SAFE_INTEGER_MAX)).toBe(true);
    const outcome = campaignOutcome(program, purchase({ netCents, inBirthdayMonth: true }));
    expect(BigInt(outcome.applied[0]!.multiplierPoints)).toBe(expected);
  });
});

/** Runs one purchase (or quote) of a fresh member through the reference core and answers its result record. */
function coreResult(program: Program, kind: number, fields: { a: number; b?: number; c?: number; points?: number; m: number; extra: number }): Float64Array {
  const programRecord = new Float64Array(PROGRAM_SLOTS);
  encodeProgram(program, programRecord);
  const members = new Float64Array(M_SLOTS).fill(0);
  members[2] = NONE; members[9] = NONE; members[10] = NONE;
  members[M_POINTS] = fields.points ?? 0;
  const ops = new Float64Array(O_SLOTS);
  ops[O_KIND] = kind; ops[O_SLOT] = 0; ops[O_AT_MS] = at('2026-12-05T02:00:00Z');
  ops[O_A] = fields.a; ops[O_B] = fields.b ?? 0; ops[O_C] = fields.c ?? 0;
  ops[O_MULTIPLIER_PCT] = fields.m; ops[O_EXTRA_POINTS] = fields.extra;
  const results = new Float64Array(R_SLOTS);
  runReference(programRecord, members, ops, results, 1);
  return results;
}

describe('agreement with the core', () => {
  const rate = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 5000 }) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 1_000_000 }) });
  const amount = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 1_000_000 }) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: AMOUNT_CENTS_MAX }) });
  const caseArb = fc.record({
    earn: fc.record({ cents: rate, points: rate }),
    redeem: fc.record({ points: rate, cents: rate }),
    discountBps: fc.integer({ min: 0, max: 10_000 }),
    orderPoints: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 1000 })),
    birthdayPct: fc.oneof(fc.constant(100), fc.integer({ min: 0, max: 10_000 })),
    inBirthdayMonth: fc.boolean(),
    campaignPcts: fc.array(fc.oneof(fc.constant(100), fc.integer({ min: 100, max: 10_000 })), { maxLength: 4 }),
    bonus: fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 4, maxLength: 4 }),
    qty: fc.integer({ min: 0, max: 1000 }),
    amountCents: amount,
    discountCents: fc.oneof(fc.constant(0), amount),
    couponCents: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 100_000 })),
    redeemPoints: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 1_000_000 })),
  });

  it('matches on the net the core earns on, for a purchase and for a quote (property)', () => {
    fc.assert(fc.property(caseArb, (c) => {
      const program = programWith([], (d) => {
        d.tiers[0].earn = c.earn; d.tiers[0].redeem = c.redeem; d.tiers[0].discountBps = c.discountBps;
      });
      const tier = program.tiers[0]!;
      const bought = coreResult(program, OP_PURCHASE, {
        a: c.amountCents, b: c.discountCents + c.couponCents, c: c.redeemPoints, points: c.redeemPoints, m: 100, extra: 0,
      });
      const net = purchaseNetCents(tier, c.amountCents, c.discountCents, c.couponCents, c.redeemPoints);
      // The core refuses exactly the purchases whose net is negative; the others it may refuse later (balance_limit).
      expect(bought[R_STATUS] === S_NEGATIVE_NET).toBe(net < 0);
      if (bought[R_STATUS] === S_OK) expect(bought[R_NET_CENTS]).toBe(net);
      const quoted = coreResult(program, OP_QUOTE, { a: c.amountCents, m: 100, extra: 0 });
      // A quote whose points would pass 2^53 is refused (balance_limit) and answers no discount.
      if (quoted[R_STATUS] === S_OK) expect(c.amountCents - quoted[R_NET_CENTS]!).toBe(quoteNetCents(tier, c.amountCents));
    }), { numRuns: 1000 });
  });

  it('adds exactly the points the campaigns say they added, birthday month included (property)', () => {
    fc.assert(fc.property(caseArb, (c) => {
      const program = programWith(
        c.campaignPcts.map((pct, i) => ({ id: `c${i}`, name: 'c', pointsMultiplierPct: pct, bonusPoints: c.bonus[i], itemPoints: [{ sku: 'TEA', points: i + 1 }] })),
        (d) => { d.tiers[0].earn = c.earn; d.orderPoints = c.orderPoints; d.birthday.multiplierPct = c.birthdayPct; },
      );
      const netCents = purchaseNetCents(program.tiers[0]!, c.amountCents, 0, 0, 0);
      const outcome = campaignOutcome(program, purchase({ netCents, items: [{ sku: 'TEA', qty: c.qty }], inBirthdayMonth: c.inBirthdayMonth }));
      const withCampaigns = coreResult(program, OP_PURCHASE, { a: c.amountCents, m: outcome.multiplierPct, extra: outcome.extraPoints });
      const without = coreResult(program, OP_PURCHASE, { a: c.amountCents, m: baseMultiplierPct(program, c.inBirthdayMonth), extra: 0 });
      if (withCampaigns[R_STATUS] !== S_OK) return;
      const added = outcome.applied.reduce((sum, a) => sum + a.points, 0);
      expect(withCampaigns[R_EARNED_POINTS]! - without[R_EARNED_POINTS]!).toBe(added);
      expect(outcome.multiplierPct).toBe(Math.max(outcome.baseMultiplierPct, ...c.campaignPcts.filter((p) => p > 100)));
    }), { numRuns: 1000 });
  });
});
