// Checks that the WASM core and the TypeScript side agree on the record layout and limits, that
// encodeProgram fills the program record as documented, and hand-computed scenarios through the core.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as layout from '../../engine/core/layout.js';
import * as limits from '../../engine/limits.js';
import { loadCore, encodeProgram } from '../../engine/core/wasm.js';
import { runReference } from '../../engine/core/reference.js';
import type { Program, Tier } from '../../engine/rules/program-types.js';

const {
  NONE, M_SLOTS, O_SLOTS, R_SLOTS, PROGRAM_SLOTS, P_HEADER_SLOTS, T_SLOTS, TOPUP_BASE,
  M_TIER, M_PERIOD_START_MS, M_PERIOD_END_MS, M_PERIOD_METRIC, M_POINTS, M_GROWTH, M_WALLET_CENTS,
  M_LIFETIME_SPEND_CENTS, M_PURCHASE_COUNT, M_FIRST_PURCHASE_AT_MS, M_LAST_PURCHASE_AT_MS,
  M_PERIOD_START_TIER, O_KIND, O_SLOT, O_AT_MS, O_A, O_B, O_C, O_D, O_MULTIPLIER_PCT, O_EXTRA_POINTS,
  OP_PURCHASE, OP_REDEEM, OP_ADJUST, OP_TOPUP, OP_WITHDRAW, OP_QUOTE,
  S_OK, S_INSUFFICIENT_POINTS, S_INSUFFICIENT_WALLET, S_NEGATIVE_NET, S_TOPUP_BELOW_MINIMUM,
  S_BALANCE_LIMIT, S_REDEMPTION_TOO_SMALL, S_WALLET_LIMIT,
} = layout;

const source = (relative: string): string => readFileSync(fileURLToPath(new URL(relative, import.meta.url)), 'utf8');

/** Evaluates the constant expressions the layout files use: sums of products of numbers and names. */
function evaluate(expression: string, known: Map<string, number>): number {
  return expression.split('+').reduce((sum, term) => sum + term.split('*').reduce((product, factor) => {
    const token = factor.trim().replaceAll('_', '');
    const value = /^-?\d+$/.test(token) ? Number(token) : known.get(factor.trim());
    if (value === undefined) throw new Error(`unknown name in constant expression: ${factor.trim()}`);
    return product * value;
  }, 1), 0);
}

function parseConstants(text: string, pattern: RegExp): Map<string, number> {
  const constants = new Map<string, number>();
  for (const match of text.matchAll(pattern)) constants.set(match[1]!, evaluate(match[2]!, constants));
  return constants;
}

describe('core layout', () => {
  it('assembly/layout.ts repeats every constant of engine/core/layout.ts with the same value', () => {
    const assembly = parseConstants(source('../../assembly/layout.ts'), /^export const (\w+): \w+ = ([^;]+);/gm);
    const typescript = Object.fromEntries(Object.entries(layout).filter(([, value]) => typeof value === 'number'));
    expect(Object.fromEntries(assembly)).toEqual(typescript);
  });

  it('the limits assembly/index.ts repeats equal engine/limits.ts', () => {
    const repeated = parseConstants(source('../../assembly/index.ts'), /^const (\w+): i64 = ([\d_]+);/gm);
    const names = [
      'SAFE_INTEGER_MAX', 'AMOUNT_CENTS_MAX', 'POINTS_OP_MAX', 'RATE_PART_MAX', 'THRESHOLD_MAX', 'DAYS_MAX',
      'MULTIPLIER_PCT_MAX', 'CAMPAIGN_EXTRA_POINTS_MAX',
    ] as const;
    for (const name of names) expect([name, repeated.get(name)]).toEqual([name, limits[name]]);
  });
});

function tier(id: string, threshold: number, fields: Partial<Tier> = {}): Tier {
  return {
    id, name: id, threshold,
    earn: { cents: 2000, points: 1 }, redeem: { points: 10, cents: 100 },
    discountBps: 0, retainThreshold: null, expressUpgradeCents: null,
    upgradeBonusPoints: 0, renewalBonusPoints: 0,
    ...fields,
  };
}

/** docs/program.md, reference programs, first example, with upgrade bonuses so that they show in the results. */
function demoProgram(overrides: Partial<Program> = {}): Program {
  return {
    name: 'Demo Store', currency: 'HKD', timezone: 'Asia/Hong_Kong',
    qualifyBy: 'spend', membershipDays: 365, carryForward: 'excess', downgrade: 'qualify',
    tiers: [
      tier('member', 0),
      tier('silver', 100_000, { discountBps: 500, upgradeBonusPoints: 50 }),
      tier('gold', 1_000_000, {
        earn: { cents: 1000, points: 1 }, redeem: { points: 5, cents: 100 }, discountBps: 1000,
        expressUpgradeCents: 500_000, upgradeBonusPoints: 200, retainThreshold: 800_000,
      }),
    ],
    orderPoints: 0, growth: { points: 1, growth: 1 }, signupPoints: 0,
    birthday: { bonusPoints: 0, multiplierPct: 100 }, pointsExpiryDays: null, allowNegativePoints: true,
    referral: { enabled: false, refereePoints: 0, levels: [] },
    wallet: {
      minTopupCents: 100, maxSpendCentsPerOrder: null,
      topupBonuses: [{ minCents: 500_000, bonusCents: 75_000 }, { minCents: 100_000, bonusCents: 10_000 }],
    },
    products: [], defaultCountry: null, csvDayFirst: true, coupons: [], couponRules: [], campaigns: [], pointsPendingDays: 0,
      rewards: [], staffCommissionBps: 0, notifyExpiringDays: 7,
    ...overrides,
  };
}

describe('encodeProgram', () => {
  it('writes the header, resolved tiers and sorted top-up steps over a zeroed record', () => {
    const out = new Float64Array(PROGRAM_SLOTS).fill(7);
    encodeProgram(demoProgram(), out);
    expect(Array.from(out.subarray(0, 11))).toEqual([3, 0, 365, 0, 0, 1, 1, NONE, 100, 2, 1]);
    expect(Array.from(out.subarray(11, P_HEADER_SLOTS))).toEqual([0, 0, 0, 0, 0]);
    const gold = P_HEADER_SLOTS + 2 * T_SLOTS;
    expect(Array.from(out.subarray(gold, gold + T_SLOTS))).toEqual([1_000_000, 1000, 1, 5, 100, 1000, 800_000, 500_000, 200, 0]);
    const silver = P_HEADER_SLOTS + T_SLOTS;
    expect(Array.from(out.subarray(silver, silver + T_SLOTS))).toEqual([100_000, 2000, 1, 10, 100, 500, 100_000, NONE, 50, 0]);
    expect(Array.from(out.subarray(TOPUP_BASE, TOPUP_BASE + 4))).toEqual([100_000, 10_000, 500_000, 75_000]);
    expect(out.subarray(TOPUP_BASE + 4).every((slot) => slot === 0)).toBe(true);
  });

  it('encodes growth qualification, carry-forward all/none, no expiry and a wallet limit', () => {
    const out = new Float64Array(PROGRAM_SLOTS);
    encodeProgram(demoProgram({ qualifyBy: 'growth', carryForward: 'none', membershipDays: null, allowNegativePoints: false,
      wallet: { minTopupCents: 0, maxSpendCentsPerOrder: 5000, topupBonuses: [] } }), out);
    expect(Array.from(out.subarray(0, 11))).toEqual([3, 1, NONE, 2, 0, 1, 1, 5000, 0, 0, 0]);
    encodeProgram(demoProgram({ carryForward: 'all' }), out);
    expect(out[3]).toBe(1);
  });
});

const T0_MS = 1_700_000_000_000;
const DAY_MS = 86_400_000;

/** An op record's fields; `multiplierPct` is 100 and `extraPoints` 0 unless told (no birthday month, no campaign). */
interface Op { kind: number; a: number; b?: number; c?: number; d?: number; multiplierPct?: number; extraPoints?: number; atMs?: number; slot?: number }

/** Op `k`'s record, each field at its slot of the layout. */
function opRecord(op: Op, k: number): number[] {
  const record = new Array<number>(O_SLOTS).fill(0);
  record[O_KIND] = op.kind; record[O_SLOT] = op.slot ?? 0; record[O_AT_MS] = op.atMs ?? T0_MS + k;
  record[O_A] = op.a; record[O_B] = op.b ?? 0; record[O_C] = op.c ?? 0; record[O_D] = op.d ?? 0;
  record[O_MULTIPLIER_PCT] = op.multiplierPct ?? 100; record[O_EXTRA_POINTS] = op.extraPoints ?? 0;
  return record;
}

/** A member as registered: first tier, no expiry, nothing earned yet. */
const freshMember = (): number[] => [0, 0, NONE, 0, 0, 0, 0, 0, 0, NONE, NONE, 0];

/** Runs ops through a fresh core and through the reference, requires the same bytes, returns the core's. */
function runBoth(program: Program, members: number[][], ops: Op[]): { members: number[][]; results: number[][] } {
  const core = loadCore();
  encodeProgram(program, core.program);
  members.forEach((member, s) => core.members.set(member, s * M_SLOTS));
  ops.forEach((op, k) => {
    const o = k * O_SLOTS;
    core.ops.set(opRecord(op, k), o);
  });
  const refProgram = core.program.slice();
  const refMembers = core.members.slice(0, members.length * M_SLOTS);
  const refResults = new Float64Array(ops.length * R_SLOTS);
  runReference(refProgram, refMembers, core.ops, refResults, ops.length);
  core.run(ops.length);
  const coreMembers = core.members.slice(0, members.length * M_SLOTS);
  const coreResults = core.results.slice(0, ops.length * R_SLOTS);
  expect(Array.from(refMembers)).toEqual(Array.from(coreMembers));
  expect(Array.from(refResults)).toEqual(Array.from(coreResults));
  return {
    members: members.map((_, s) => Array.from(coreMembers.subarray(s * M_SLOTS, (s + 1) * M_SLOTS))),
    results: ops.map((_, k) => Array.from(coreResults.subarray(k * R_SLOTS, (k + 1) * R_SLOTS))),
  };
}

/** A result record: status, pointsDelta, walletDelta, growthDelta, spendDelta, earned, value, net, newTier, bonus. */
const result = (status: number, fields: number[] = []): number[] => {
  const record: number[] = new Array(R_SLOTS).fill(0);
  record[0] = status;
  fields.forEach((value, i) => { record[i + 1] = value; });
  return record;
};
const rejected = (status: number): number[] => result(status);

describe('core scenarios (demo program)', () => {
  it('earns, upgrades by spend, redeems, express-upgrades and quotes as computed by hand', () => {
    const { members, results } = runBoth(demoProgram(), [freshMember()], [
      // $150 at Member: floor(15000 / 2000) = 7 points, metric 15000.
      { kind: OP_PURCHASE, a: 15_000, atMs: T0_MS },
      // $900 more: 45 points; metric 105000 reaches Silver; excess carry-forward leaves 5000; +50 bonus.
      { kind: OP_PURCHASE, a: 90_000, atMs: T0_MS + 1000 },
      // 25 points at Silver (10 points -> $1) = 250 cents into the wallet.
      { kind: OP_REDEEM, a: 25 },
      // $6000 less $10 discount less 30 points ($3) = 598700 net, 250 from the wallet; 299 points at
      // Silver's rate; 598700 >= Gold's express 500000 -> Gold, metric max(0, 603700 - 1000000) = 0.
      { kind: OP_PURCHASE, a: 600_000, b: 1000, c: 30, d: 250, atMs: T0_MS + 2000 },
      // Gold quote on $100: 10% off = 1000, payable 9000, at most floor(9000 * 5 / 100) = 450 points
      // worth 9000 cents, and floor(9000 / 1000) = 9 points to earn.
      { kind: OP_QUOTE, a: 10_000 },
      { kind: OP_REDEEM, a: 1000 },
      { kind: OP_ADJUST, a: -600 },
      { kind: OP_ADJUST, a: 54 },
      { kind: OP_TOPUP, a: 99 },
      { kind: OP_TOPUP, a: 100_000 },
      { kind: OP_WITHDRAW, a: 200_000 },
      { kind: OP_WITHDRAW, a: 10_000 },
      { kind: OP_PURCHASE, a: 1000, b: 1001 },
      { kind: OP_PURCHASE, a: 1000, d: 1001 },
      // 601 points would be worth 12020 cents at Gold, but the balance is 600.
      { kind: OP_PURCHASE, a: 100_000, c: 601 },
      { kind: OP_PURCHASE, a: 200_000, d: 100_001 },
    ]);
    expect(results).toEqual([
      result(S_OK, [7, 0, 7, 15_000, 7, 0, 15_000, NONE, 0]),
      result(S_OK, [45, 0, 45, 90_000, 45, 0, 90_000, 1, 50]),
      result(S_OK, [-25, 250, 0, 0, 0, 250, 0, 0, 0]),
      result(S_OK, [269, -250, 299, 598_700, 299, 300, 598_700, 2, 200]),
      result(S_OK, [0, 0, 0, 0, 9, 9000, 1000, 0, 450]),
      rejected(S_INSUFFICIENT_POINTS),
      rejected(S_INSUFFICIENT_POINTS),
      result(S_OK, [54]),
      rejected(S_TOPUP_BELOW_MINIMUM),
      result(S_OK, [0, 110_000, 0, 0, 0, 10_000]),
      rejected(S_INSUFFICIENT_WALLET),
      result(S_OK, [0, -10_000]),
      rejected(S_NEGATIVE_NET),
      rejected(S_NEGATIVE_NET),
      rejected(S_INSUFFICIENT_POINTS),
      rejected(S_INSUFFICIENT_WALLET),
    ]);
    const member = members[0]!;
    expect(member[M_TIER]).toBe(2);
    expect(member[M_PERIOD_START_TIER]).toBe(2);
    expect(member[M_PERIOD_START_MS]).toBe(T0_MS + 2000);
    expect(member[M_PERIOD_END_MS]).toBe(T0_MS + 2000 + 365 * DAY_MS);
    expect(member[M_PERIOD_METRIC]).toBe(0);
    expect(member[M_POINTS]).toBe(7 + 45 + 50 - 25 + 269 + 200 + 54);
    expect(member[M_GROWTH]).toBe(7 + 45 + 299);
    expect(member[M_WALLET_CENTS]).toBe(100_000);
    expect(member[M_LIFETIME_SPEND_CENTS]).toBe(15_000 + 90_000 + 598_700);
    expect(member[M_PURCHASE_COUNT]).toBe(3);
    expect(member[M_FIRST_PURCHASE_AT_MS]).toBe(T0_MS);
    expect(member[M_LAST_PURCHASE_AT_MS]).toBe(T0_MS + 2000);
  });

  it('applies the birthday multiplier, growth qualification, carry-forward none and the wallet limit', () => {
    const program = demoProgram({
      qualifyBy: 'growth', carryForward: 'none', membershipDays: null, orderPoints: 3,
      growth: { points: 2, growth: 5 },
      wallet: { minTopupCents: 100, maxSpendCentsPerOrder: 500, topupBonuses: [] },
    });
    program.tiers[1] = tier('silver', 100, { upgradeBonusPoints: 1 });
    const member = freshMember();
    member[M_WALLET_CENTS] = 1000;
    const { members, results } = runBoth(program, [member], [
      // floor(10000 / 2000) + 3 = 8, birthday floor(8 * 150 / 100) = 12, growth floor(12 * 5 / 2) = 30.
      { kind: OP_PURCHASE, a: 10_000, multiplierPct: 150 },
      { kind: OP_PURCHASE, a: 10_000, d: 501 },
      // floor(40000 / 2000) + 3 = 23 points, growth floor(23 * 5 / 2) = 57: metric 87 is short of 100.
      { kind: OP_PURCHASE, a: 40_000, d: 500 },
      // 1 + 3 = 4 points, growth floor(4 * 5 / 2) = 10: metric 97, still short.
      { kind: OP_PURCHASE, a: 2000 },
      // 2 + 3 = 5 points, growth floor(5 * 5 / 2) = 12: metric 109 reaches Silver (+1 bonus);
      // carry-forward none starts the new period at 0, and no membershipDays means no period end.
      { kind: OP_PURCHASE, a: 4000, atMs: T0_MS + 99 },
    ]);
    expect(results).toEqual([
      result(S_OK, [12, 0, 30, 10_000, 12, 0, 10_000, NONE, 0]),
      rejected(S_WALLET_LIMIT),
      result(S_OK, [23, -500, 57, 40_000, 23, 0, 40_000, NONE, 0]),
      result(S_OK, [4, 0, 10, 2000, 4, 0, 2000, NONE, 0]),
      result(S_OK, [5, 0, 12, 4000, 5, 0, 4000, 1, 1]),
    ]);
    expect(members[0]!.slice(0, M_SLOTS)).toEqual([1, T0_MS + 99, NONE, 0, 12 + 23 + 4 + 5 + 1, 30 + 57 + 10 + 12, 500, 56_000, 4, T0_MS, T0_MS + 99, 1]);
  });

  it('keeps earned points and their growth out of the balances while they are pending, the upgrade bonus not', () => {
    const program = demoProgram({ qualifyBy: 'growth', carryForward: 'none', membershipDays: null, growth: { points: 1, growth: 2 }, pointsPendingDays: 14 });
    program.tiers[1] = tier('silver', 100, { upgradeBonusPoints: 3, expressUpgradeCents: 50_000 });
    const member = freshMember();
    member[M_POINTS] = 40;
    const { members, results } = runBoth(program, [member], [
      // 10 points earned and 20 growth, all pending: the balance moves by the 40 redeemed alone, and
      // the growth reaches no tier (it counts at activation).
      { kind: OP_PURCHASE, a: 20_000, c: 40 },
      // An express upgrade still happens at once, and its bonus is not pending.
      { kind: OP_PURCHASE, a: 60_000 },
    ]);
    expect(results).toEqual([
      result(S_OK, [-40, 0, 0, 19_600, 9, 400, 19_600, NONE, 0, 18]),
      result(S_OK, [0, 0, 0, 60_000, 30, 0, 60_000, 1, 3, 60]),
    ]);
    expect(members[0]![M_POINTS]).toBe(3);
    expect(members[0]![M_GROWTH]).toBe(0);
    expect(members[0]![M_PERIOD_METRIC]).toBe(0);
    expect(members[0]![M_TIER]).toBe(1);
  });

  it('earns floor(regular × M ÷ 100) + campaign points, each term as computed by hand', () => {
    const program = demoProgram({ orderPoints: 3 });
    const { results } = runBoth(program, [freshMember()], [
      // Regular points floor(10000 / 2000) + 3 = 8, no multiplier: 8.
      { kind: OP_PURCHASE, a: 10_000 },
      // 200% multiplies orderPoints too: floor(8 × 200 / 100) = 16.
      { kind: OP_PURCHASE, a: 10_000, multiplierPct: 200 },
      // floor(8 × 133 / 100) = floor(10.64) = 10.
      { kind: OP_PURCHASE, a: 10_000, multiplierPct: 133 },
      // Campaign points are added after the multiplier, never multiplied: floor(8 × 0 / 100) + 7 = 7.
      { kind: OP_PURCHASE, a: 10_000, multiplierPct: 0, extraPoints: 7 },
      // 16 + 100 = 116, and growth follows the whole of it.
      { kind: OP_PURCHASE, a: 10_000, multiplierPct: 200, extraPoints: 100 },
      // The quote earns the same way on the amount after the tier discount (Member: none).
      { kind: OP_QUOTE, a: 10_000, multiplierPct: 200, extraPoints: 100 },
    ]);
    expect(results.map((r) => [r[0], r[5], r[3]])).toEqual([
      [S_OK, 8, 8], [S_OK, 16, 16], [S_OK, 10, 10], [S_OK, 7, 7], [S_OK, 116, 116], [S_OK, 116, 0],
    ]);
  });

  it('stays exact at the edges: campaign points at their bound, a balance ending at 2^53 - 1, a multiplier on a saturated product', () => {
    const nearTop = freshMember();
    nearTop[M_POINTS] = limits.SAFE_INTEGER_MAX - 116;
    const program = demoProgram({ orderPoints: 3 });
    const edge = runBoth(program, [nearTop, freshMember()], [
      { kind: OP_PURCHASE, a: 10_000, multiplierPct: 200, extraPoints: 101 },
      { kind: OP_PURCHASE, a: 10_000, multiplierPct: 200, extraPoints: 100 },
      // 3 regular points + 10^12 of campaign points, the most a purchase's campaigns may add.
      { kind: OP_PURCHASE, a: 1, extraPoints: limits.CAMPAIGN_EXTRA_POINTS_MAX, slot: 1 },
    ]);
    expect(edge.results.map((r) => r[0])).toEqual([S_BALANCE_LIMIT, S_OK, S_OK]);
    expect(edge.members[0]![M_POINTS]).toBe(limits.SAFE_INTEGER_MAX);
    expect(edge.results[2]![5]).toBe(3 + limits.CAMPAIGN_EXTRA_POINTS_MAX);
    // A million points per cent on 10^12 cents is 10^18 regular points: 100× saturates past 2^53
    // and is refused, while 0% brings it back to the campaign points alone.
    const rich = demoProgram();
    rich.tiers[0] = tier('member', 0, { earn: { cents: 1, points: limits.RATE_PART_MAX } });
    const { results } = runBoth(rich, [freshMember()], [
      { kind: OP_PURCHASE, a: limits.AMOUNT_CENTS_MAX, multiplierPct: limits.MULTIPLIER_PCT_MAX },
      { kind: OP_PURCHASE, a: limits.AMOUNT_CENTS_MAX, multiplierPct: 0, extraPoints: 5 },
      { kind: OP_QUOTE, a: limits.AMOUNT_CENTS_MAX, multiplierPct: 0, extraPoints: 5 },
    ]);
    expect(results.map((r) => [r[0], r[5]])).toEqual([[S_BALANCE_LIMIT, 0], [S_OK, 5], [S_OK, 5]]);
  });

  it('refuses a redemption worth less than a cent and a balance past 2^53 - 1', () => {
    const program = demoProgram();
    program.tiers[0] = tier('member', 0, { redeem: { points: 1000, cents: 1 } });
    const rich = freshMember();
    rich[M_POINTS] = limits.SAFE_INTEGER_MAX;
    const { members, results } = runBoth(program, [rich], [
      { kind: OP_REDEEM, a: 999 },
      { kind: OP_ADJUST, a: 1 },
      { kind: OP_PURCHASE, a: 2000 },
      { kind: OP_REDEEM, a: 1000 },
    ]);
    expect(results).toEqual([
      rejected(S_REDEMPTION_TOO_SMALL),
      rejected(S_BALANCE_LIMIT),
      rejected(S_BALANCE_LIMIT),
      result(S_OK, [-1000, 1, 0, 0, 0, 1]),
    ]);
    expect(members[0]![M_POINTS]).toBe(limits.SAFE_INTEGER_MAX - 1000);
  });

  it('lets a member with a negative balance buy and be credited, but not debited', () => {
    const owing = freshMember();
    owing[M_POINTS] = -20;
    const { results } = runBoth(demoProgram(), [owing], [
      { kind: OP_PURCHASE, a: 20_000 },
      { kind: OP_PURCHASE, a: 20_000, c: 1 },
      { kind: OP_ADJUST, a: 5 },
      { kind: OP_ADJUST, a: -1 },
      { kind: OP_QUOTE, a: 20_000 },
    ]);
    expect(results.map((record) => record[0])).toEqual([S_OK, S_INSUFFICIENT_POINTS, S_OK, S_INSUFFICIENT_POINTS, S_OK]);
    expect(results[4]).toEqual(result(S_OK, [0, 0, 0, 0, 10, 0, 0, 0, 0]));
  });

  it('stops with an assertion on a broken invariant', () => {
    const core = loadCore();
    encodeProgram(demoProgram(), core.program);
    core.members.set(freshMember(), 0);
    core.ops.set(opRecord({ kind: 99, a: 1 }, 0), 0);
    expect(() => core.run(1)).toThrow(/core assertion failed: unknown op kind/);
    core.ops.set(opRecord({ kind: OP_PURCHASE, a: 1, slot: layout.CORE_MEMBERS_MAX }, 0), 0);
    expect(() => core.run(1)).toThrow(/member slot out of range/);
    // The multiplier and the campaigns' points are resolved by the shard, which checks them first.
    core.ops.set(opRecord({ kind: OP_PURCHASE, a: 1, multiplierPct: limits.MULTIPLIER_PCT_MAX + 1 }, 0), 0);
    expect(() => core.run(1)).toThrow(/op multiplierPct out of range/);
    core.ops.set(opRecord({ kind: OP_QUOTE, a: 1, multiplierPct: -1 }, 0), 0);
    expect(() => core.run(1)).toThrow(/op multiplierPct out of range/);
    core.ops.set(opRecord({ kind: OP_PURCHASE, a: 1, extraPoints: limits.CAMPAIGN_EXTRA_POINTS_MAX + 1 }, 0), 0);
    expect(() => core.run(1)).toThrow(/op extraPoints out of range/);
    core.ops.set(opRecord({ kind: OP_QUOTE, a: 1, extraPoints: 0.5 }, 0), 0);
    expect(() => core.run(1)).toThrow(/slot is not an integer/);
    expect(() => core.run(layout.CORE_OPS_MAX + 1)).toThrow(RangeError);
  });
});
