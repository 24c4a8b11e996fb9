// Property test: random programs, member states and op sequences through the WASM core and the
// TypeScript reference model must leave byte-identical member records and result records. Purchases
// and quotes carry random multipliers and campaign points (docs/rules.md §13.2) up to their bounds.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  NONE, M_SLOTS, O_SLOTS, R_SLOTS, R_NEW_TIER, R_STATUS, R_POINTS_DELTA, R_GROWTH_DELTA, R_PENDING_GROWTH, OP_PURCHASE, OP_REDEEM, OP_ADJUST, OP_TOPUP, OP_WITHDRAW, OP_QUOTE,
  O_KIND, O_SLOT, O_AT_MS, O_A, O_B, O_C, O_D, O_MULTIPLIER_PCT, O_EXTRA_POINTS, S_OK,
} from '../../engine/core/layout.js';
import {
  AMOUNT_CENTS_MAX, POINTS_OP_MAX, RATE_PART_MAX, THRESHOLD_MAX, DAYS_MAX, SAFE_INTEGER_MAX, MULTIPLIER_PCT_MAX,
  CAMPAIGN_EXTRA_POINTS_MAX,
} from '../../engine/limits.js';
import { loadCore, encodeProgram } from '../../engine/core/wasm.js';
import { runReference } from '../../engine/core/reference.js';
import type { Program, Tier } from '../../engine/rules/program-types.js';

const SLOTS = 8;
const OPS_MAX = 200;
const NOW_MS = 1_700_000_000_000;

/** Mostly small values, where the interesting rounding happens, sometimes anything up to `max`. */
const scaled = (min: number, max: number) => fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min, max: Math.min(max, min + 10_000) }) },
  { weight: 2, arbitrary: fc.integer({ min, max: Math.min(max, 1_000_000) }) },
  { weight: 1, arbitrary: fc.integer({ min, max }) },
);
/** Balances: small, large, or right at the edge of the safe range so that S_BALANCE_LIMIT shows up. */
const balance = (min: number) => fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min, max: 1_000_000 }) },
  { weight: 1, arbitrary: fc.integer({ min, max: SAFE_INTEGER_MAX }) },
  { weight: 1, arbitrary: fc.integer({ min: SAFE_INTEGER_MAX - 1_000_000, max: SAFE_INTEGER_MAX }) },
);
const rate = fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 1000 }) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: RATE_PART_MAX }) });
const bonusPoints = fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 0, max: 1000 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: SAFE_INTEGER_MAX }) });

const programArb: fc.Arbitrary<Program> = fc
  .record({
    // The scale of thresholds and express amounts, so that small programs see upgrades often.
    scale: fc.constantFrom(1000, 100_000, 10_000_000, THRESHOLD_MAX),
    tierCount: fc.integer({ min: 1, max: 10 }),
  })
  .chain(({ scale, tierCount }) => fc.record({
    thresholds: fc.uniqueArray(fc.integer({ min: 1, max: scale }), { minLength: tierCount - 1, maxLength: tierCount - 1 }),
    tiers: fc.array(fc.record({
      earnCents: rate, earnPoints: rate, redeemPoints: rate, redeemCents: rate,
      discountBps: fc.integer({ min: 0, max: 10_000 }),
      retainThreshold: fc.option(fc.integer({ min: 0, max: scale })),
      expressUpgradeCents: fc.option(fc.integer({ min: 1, max: Math.min(scale, AMOUNT_CENTS_MAX) })),
      upgradeBonusPoints: bonusPoints,
      renewalBonusPoints: fc.integer({ min: 0, max: 1000 }),
    }), { minLength: tierCount, maxLength: tierCount }),
    qualifyBy: fc.constantFrom('spend' as const, 'growth' as const),
    membershipDays: fc.option(fc.integer({ min: 1, max: DAYS_MAX })),
    carryForward: fc.constantFrom('excess' as const, 'all' as const, 'none' as const),
    orderPoints: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 0, max: 100 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: SAFE_INTEGER_MAX }) }),
    growthPoints: rate,
    growthGrowth: rate,
    allowNegativePoints: fc.boolean(),
    // Pending points (docs/rules.md §13.5): the core leaves earned points and their growth out of the balances.
    pointsPendingDays: fc.constantFrom(0, 0, 14),
    minTopupCents: fc.integer({ min: 0, max: 10_000 }),
    maxSpendCentsPerOrder: fc.option(scaled(0, AMOUNT_CENTS_MAX)),
    topupBonuses: fc.array(fc.record({ minCents: scaled(0, AMOUNT_CENTS_MAX), bonusCents: scaled(0, SAFE_INTEGER_MAX) }), { maxLength: 16 }),
  }))
  .map((p): Program => {
    const thresholds = [0, ...[...p.thresholds].sort((a, b) => a - b)];
    const tiers: Tier[] = p.tiers.map((t, i) => ({
      id: `t${i}`, name: `Tier ${i}`, threshold: thresholds[i]!,
      earn: { cents: t.earnCents, points: t.earnPoints }, redeem: { points: t.redeemPoints, cents: t.redeemCents },
      discountBps: t.discountBps, retainThreshold: t.retainThreshold, expressUpgradeCents: t.expressUpgradeCents,
      upgradeBonusPoints: t.upgradeBonusPoints, renewalBonusPoints: t.renewalBonusPoints,
    }));
    return {
      name: 'Property', currency: 'EUR', timezone: 'UTC',
      qualifyBy: p.qualifyBy, membershipDays: p.membershipDays, carryForward: p.carryForward, downgrade: 'qualify',
      tiers, orderPoints: p.orderPoints, growth: { points: p.growthPoints, growth: p.growthGrowth },
      signupPoints: 0, birthday: { bonusPoints: 0, multiplierPct: 100 }, pointsExpiryDays: null,
      allowNegativePoints: p.allowNegativePoints, referral: { enabled: false, refereePoints: 0, levels: [] },
      wallet: { minTopupCents: p.minTopupCents, maxSpendCentsPerOrder: p.maxSpendCentsPerOrder, topupBonuses: p.topupBonuses },
      products: [], defaultCountry: null, csvDayFirst: true, coupons: [], couponRules: [], campaigns: [], pointsPendingDays: p.pointsPendingDays,
      rewards: [], staffCommissionBps: 0, notifyExpiringDays: 7,
    };
  });

const time = fc.integer({ min: NOW_MS - 400 * 86_400_000, max: NOW_MS });
const optionalTime = fc.oneof(fc.constant(NONE), time);

/** A member record in the layout's slot order, valid for a program of `tierCount` tiers. */
const memberArb = (tierCount: number) => fc
  .record({
    tier: fc.integer({ min: 0, max: tierCount - 1 }),
    periodStartMs: time,
    periodEndMs: optionalTime,
    metric: balance(0),
    points: fc.oneof({ weight: 4, arbitrary: balance(0) }, { weight: 1, arbitrary: balance(0).map((n) => -n) }),
    growth: balance(0),
    walletCents: balance(0),
    lifetimeSpendCents: balance(0),
    purchaseCount: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.constant(SAFE_INTEGER_MAX)),
    firstAtMs: optionalTime,
    lastAtMs: optionalTime,
  })
  .map((m) => [m.tier, m.periodStartMs, m.periodEndMs, m.metric, m.points, m.growth, m.walletCents,
    m.lifetimeSpendCents, m.purchaseCount, m.firstAtMs, m.lastAtMs, m.tier]);

const opArb = fc
  .record({
    kind: fc.constantFrom(OP_PURCHASE, OP_PURCHASE, OP_PURCHASE, OP_REDEEM, OP_ADJUST, OP_TOPUP, OP_WITHDRAW, OP_QUOTE),
    slot: fc.integer({ min: 0, max: SLOTS - 1 }),
    atMs: time,
    a: scaled(1, AMOUNT_CENTS_MAX),
    negative: fc.boolean(),
    b: fc.oneof(fc.constant(0), scaled(0, AMOUNT_CENTS_MAX)),
    c: fc.oneof(fc.constant(0), scaled(0, POINTS_OP_MAX)),
    d: fc.oneof(fc.constant(0), scaled(0, AMOUNT_CENTS_MAX)),
    // The multiplier M: mostly none, often a birthday's or a campaign's, sometimes at its bounds.
    multiplierPct: fc.oneof(
      { weight: 4, arbitrary: fc.constant(100) },
      { weight: 2, arbitrary: fc.integer({ min: 0, max: 1000 }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: MULTIPLIER_PCT_MAX }) },
      { weight: 1, arbitrary: fc.constantFrom(0, MULTIPLIER_PCT_MAX) },
    ),
    // The campaigns' bonus and item points, up to the bound the shard checks before the call.
    extraPoints: fc.oneof(
      { weight: 4, arbitrary: fc.constant(0) },
      { weight: 2, arbitrary: fc.integer({ min: 0, max: 1000 }) },
      { weight: 1, arbitrary: scaled(0, CAMPAIGN_EXTRA_POINTS_MAX) },
      { weight: 1, arbitrary: fc.constant(CAMPAIGN_EXTRA_POINTS_MAX) },
    ),
  })
  .map((op) => {
    // Every kind takes a positive O_A within its bound; only an adjustment may be negative.
    const record = new Array<number>(O_SLOTS).fill(0);
    record[O_KIND] = op.kind; record[O_SLOT] = op.slot; record[O_AT_MS] = op.atMs;
    record[O_A] = op.kind === OP_ADJUST && op.negative ? -Math.min(op.a, POINTS_OP_MAX) : op.a;
    record[O_B] = op.b; record[O_C] = op.c; record[O_D] = op.d;
    record[O_MULTIPLIER_PCT] = op.multiplierPct; record[O_EXTRA_POINTS] = op.extraPoints;
    return record;
  });

const caseArb = programArb.chain((program) => fc.record({
  program: fc.constant(program),
  members: fc.array(memberArb(program.tiers.length), { minLength: SLOTS, maxLength: SLOTS }),
  ops: fc.array(opArb, { maxLength: OPS_MAX, size: 'max' }),
}));

/** The first differing slot of two records, named by record index and field, or undefined. */
function firstDifference(a: Float64Array, b: Float64Array, slots: number): string | undefined {
  const bytesA = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const bytesB = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  if (Buffer.compare(bytesA, bytesB) === 0) return undefined;
  const i = a.findIndex((value, index) => !Object.is(value, b[index]));
  return `record ${Math.floor(i / slots)} field ${i % slots}: core ${a[i]}, reference ${b[i]}`;
}

describe('WASM core against the TypeScript reference', () => {
  const core = loadCore();

  it('leaves identical members and results for thousands of random programs and op sequences', () => {
    const statuses = new Map<number, number>();
    let upgrades = 0;
    let multiplied = 0;
    let withCampaignPoints = 0;
    let pendingPurchases = 0;
    fc.assert(
      fc.property(caseArb, ({ program, members, ops }) => {
        encodeProgram(program, core.program);
        members.forEach((member, s) => core.members.set(member, s * M_SLOTS));
        ops.forEach((op, k) => core.ops.set(op, k * O_SLOTS));
        const refProgram = core.program.slice();
        const refMembers = core.members.slice(0, SLOTS * M_SLOTS);
        const refResults = new Float64Array(ops.length * R_SLOTS);

        runReference(refProgram, refMembers, core.ops, refResults, ops.length);
        core.run(ops.length);

        const coreMembers = core.members.subarray(0, SLOTS * M_SLOTS);
        const coreResults = core.results.subarray(0, ops.length * R_SLOTS);
        expect(firstDifference(coreResults, refResults, R_SLOTS)).toBeUndefined();
        expect(firstDifference(coreMembers, refMembers, M_SLOTS)).toBeUndefined();
        for (let k = 0; k < ops.length; k++) {
          const status = coreResults[k * R_SLOTS]!;
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          if (coreResults[k * R_SLOTS + R_NEW_TIER]! > 0) upgrades += 1;
          const op = ops[k]!;
          if ((op[O_KIND] === OP_PURCHASE || op[O_KIND] === OP_QUOTE) && coreResults[k * R_SLOTS + R_STATUS] === S_OK) {
            if (op[O_MULTIPLIER_PCT] !== 100) multiplied += 1;
            if (op[O_EXTRA_POINTS]! > 0) withCampaignPoints += 1;
          }
          if (op[O_KIND] === OP_PURCHASE && coreResults[k * R_SLOTS + R_STATUS] === S_OK && program.pointsPendingDays > 0) {
            // Pending: the balance moves by the redemption alone and the growth waits, answered apart.
            pendingPurchases += 1;
            expect(coreResults[k * R_SLOTS + R_POINTS_DELTA]).toBe(0 - op[O_C]!);
            expect(coreResults[k * R_SLOTS + R_GROWTH_DELTA]).toBe(0);
          } else if (op[O_KIND] === OP_PURCHASE) {
            expect(coreResults[k * R_SLOTS + R_PENDING_GROWTH]).toBe(0);
          }
        }
      }),
      { numRuns: 2000, endOnFailure: true, interruptAfterTimeLimit: 30_000, markInterruptAsFailure: true },
    );
    // The generators must reach every outcome, or the comparison proves less than it seems to.
    expect([...statuses.keys()].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(upgrades).toBeGreaterThan(100);
    expect(multiplied).toBeGreaterThan(1000);
    expect(withCampaignPoints).toBeGreaterThan(1000);
    expect(pendingPurchases).toBeGreaterThan(500);
  });
});
